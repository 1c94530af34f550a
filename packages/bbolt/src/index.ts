// Public API of @conclave/bbolt.
export {
  type BboltBucket,
  type BboltEntry,
  type BboltReader,
  openBbolt,
  type PageSource,
} from "./bbolt-reader.js";
export {
  type BboltFileInfo,
  type BboltSink,
  type BboltWriter,
  type BboltWriterOptions,
  createBboltWriter,
} from "./bbolt-writer.js";
export { defaultPageSize } from "./page-format.js";
export {
  bufferPageSource,
  createFileSink,
  createMemorySink,
  filePageSource,
} from "./page-source.js";
