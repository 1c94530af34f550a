// Public API of @conclave/client.

export { type ConclaveClient, createConclaveClient } from "./conclave-client.js";
