import { createServer } from "node:net";
import type { RunningServer } from "./running-server.js";

/** Ports freePort() handed out in this process: never handed out twice. */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1 (bind to 0, read it, release it). Another
 * process (or an outgoing connection, which draws from the same range) can
 * still take it before the server binds it: the start functions retry then.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.unref();
      s.on("error", reject);
      s.listen(0, "127.0.0.1", () => {
        const addr = s.address();
        const port = typeof addr === "object" && addr !== null ? addr.port : 0;
        s.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Starts a server on fresh free ports, again (up to 3 times) if a port was taken meanwhile. */
export async function withFreshPorts(start: () => Promise<RunningServer>): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      const taken = /EADDRINUSE|address already in use/.test(String(err));
      if (!taken || attempt === 3) throw err;
    }
  }
}
