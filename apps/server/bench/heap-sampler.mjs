// Loaded into a server process with `node --import` by alloc-per-op.ts:
// runs V8's sampling heap profiler between a "start" and a "stop" message
// from the parent (IPC), counting objects that minor and major GCs
// collected too, and answers "stop" with the profile's path.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";

const session = new Session();
session.connect();
await session.post("HeapProfiler.enable");

process.on("message", async (m) => {
  if (m?.type === "start") {
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    process.send?.({ type: "started" });
  } else if (m?.type === "stop") {
    const { profile } = await session.post("HeapProfiler.stopSampling");
    writeFileSync(m.path, JSON.stringify(profile));
    process.send?.({ type: "stopped" });
  }
});
