// A plain Node 20 script using the installed packages: prints the
// scenario's result as JSON. Usage: node node-check.mjs <server url>
import { runScenario } from "./scenario.js";

const result = await runScenario(process.argv[2], "node");
process.stdout.write(`${JSON.stringify(result)}\n`);
