import { LineError } from "./election-line.js";

/** A LeaderElection request that names no election or candidate. */
export class ElectionInputError extends Error {
  override name = "ElectionInputError";
}

/** The named election has no state: nobody ever entered it. */
export class ElectionNotFoundError extends Error {
  override name = "ElectionNotFoundError";
}

export const errElectionNotFound = (election: string) =>
  new ElectionNotFoundError(`conclave: election ${election} not found`);

export { LineError };
