import {
  type CertFiles,
  createTestCerts as createCerts,
  type TestCerts,
} from "../../../apps/server/src/tls-test-certs.js";

export type { CertFiles, TestCerts };

/**
 * A CA, a server certificate for 127.0.0.1, ::1 and localhost, client
 * certificates by CN (default "root" and "alice") and a "root" client
 * certificate from another CA, made with the `openssl` CLI in a temporary
 * directory that is removed when the process exits. The generator lives
 * beside the server's own TLS tests (apps/server/src/tls-test-certs.ts), so
 * both suites use the same certificates.
 */
export function createTestCerts(clientNames?: readonly string[]): TestCerts {
  const certs = createCerts(clientNames);
  process.once("exit", () => certs.remove());
  return certs;
}
