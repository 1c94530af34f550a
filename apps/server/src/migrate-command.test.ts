import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FlagError } from "./flags.js";
import { formatMigrateSummary, migrateUsage, parseMigrateFlags } from "./migrate-command.js";

describe("conclave migrate flags", () => {
  it("takes --from and --to, as --flag value or --flag=value", () => {
    assert.deepEqual(parseMigrateFlags(["--from", "d", "--to=postgres://h/db"]), {
      from: "d",
      to: "postgres://h/db",
      help: false,
    });
    assert.equal(parseMigrateFlags(["-h"]).help, true);
    assert.match(migrateUsage(), /--from <data-dir>[\s\S]*--to <postgres-url>/);
  });

  for (const [argv, message] of [
    [["--to", "postgres://h/db"], /--from <data-dir> is required/],
    [["--from", "d"], /--to <postgres-url> is required/],
    [["--from", "d", "--to", "mysql://u:secret@h/db"], /"mysql:\/\/u:\*\*\*@h\/db" for --to/],
    [["--form", "d"], /unknown flag: --form \(did you mean --from\?\)/],
    [["--from"], /flag needs an argument: --from/],
    [["d"], /'d' is not a valid flag/],
  ] as const) {
    it(`refuses ${argv.join(" ")}`, () => {
      assert.throws(
        () => parseMigrateFlags(argv),
        (e: unknown) => e instanceof FlagError && message.test(e.message),
      );
    });
  }

  it("summarises in one line, without the password", () => {
    const flags = { from: "d", to: "postgres://u:secret@h/db", help: false };
    assert.equal(
      formatMigrateSummary(flags, {
        revision: 42,
        compactRevision: 30,
        keys: 1,
        leases: 2,
        entries: 1,
        bytes: 900,
      }),
      "migrated d to postgres://u:***@h/db: revision 42 (compacted at 30), 1 key, 2 leases, 1 log entry (900 bytes)",
    );
  });
});
