// The browser app's entry (bundled by Vite): runs the scenario against
// ?endpoint= and leaves the result on window for the test to read.
import { runScenario } from "./scenario.js";

const endpoint = new URL(location.href).searchParams.get("endpoint") ?? "";
runScenario(endpoint, "browser").then(
  (result) => {
    window.scenarioResult = result;
  },
  (err) => {
    window.scenarioResult = { error: String(err?.stack ?? err) };
  },
);
