import type { ConclaveClient } from "@conclave/client";
import { AlarmRequest_AlarmAction, AlarmType } from "@conclave/proto";
import { describeError } from "./access-errors.js";
import type { ActionRunner } from "./action-runner.js";
import { fill, fillKeepingFocus, h } from "./dom.js";
import type { LiveState } from "./live-state.js";
import { actionButton, panel } from "./panel.js";

/** How often status, members and alarms are read, ms. */
const pollMs = 2_000;

const mib = (bytes: bigint) => `${(Number(bytes) / 2 ** 20).toFixed(1)} MiB`;

/**
 * Cluster and maintenance: members, version, revision, DB size and in-use
 * size, alarms (each can be disarmed), the member leading the cluster
 * duties, and compaction to a revision. Polled (Status, MemberList and Alarm
 * GET need no permission); returns the stop function.
 */
export function mountClusterView(
  parent: HTMLElement,
  state: LiveState,
  client: ConclaveClient,
  actions: ActionRunner,
): () => void {
  const compactRev = h("input", {
    type: "number",
    name: "compact-revision",
    min: 1,
    required: true,
    "data-testid": "compact-revision",
  });
  const compactForm = h(
    "form",
    { class: "inline-form", "aria-label": "compact history", "data-testid": "compact" },
    h("label", {}, "Compact to revision", compactRev),
    h("button", { type: "submit", "data-testid": "compact-submit" }, "Compact"),
  );
  compactForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const rev = BigInt(compactRev.value);
    void actions.run(
      `Compact to revision ${rev}`,
      `history before revision ${rev} is dropped for good (current: ${state.revision})`,
      async () => {
        await client.compact(rev);
        return `compacted to revision ${rev}`;
      },
    );
  });
  const { root, body } = panel(
    "cluster",
    "Cluster",
    `Status, MemberList and alarms every ${pollMs / 1000} s.`,
    compactForm,
  );
  parent.append(root);

  const disarm = (memberID: bigint, alarm: AlarmType) =>
    actions.run(
      `Disarm ${AlarmType[alarm]} on member ${memberID.toString(16)}`,
      "writes are accepted again (free space first, or it comes back)",
      async () => {
        await client.services.maintenance.alarm({
          action: AlarmRequest_AlarmAction.DEACTIVATE,
          memberID,
          alarm,
        });
        return "disarmed";
      },
    );

  const stopper = new AbortController();
  const signal = stopper.signal;
  async function poll(): Promise<void> {
    while (!signal.aborted) {
      try {
        const m = client.services.maintenance;
        const [status, members, alarms] = await Promise.all([
          m.status({}, { signal }),
          client.services.cluster.memberList({}, { signal }),
          m.alarm({ action: AlarmRequest_AlarmAction.GET }, { signal }),
        ]);
        const fact = (label: string, id: string, value: string | HTMLElement) => [
          h("dt", {}, label),
          h("dd", { class: "mono", "data-testid": id }, value),
        ];
        fillKeepingFocus(
          body,
          h(
            "dl",
            { class: "facts" },
            fact("version", "cluster-version", status.version),
            fact("revision", "cluster-revision", String(status.header?.revision ?? 0n)),
            fact("DB size", "cluster-db-size", mib(status.dbSize)),
            fact("DB in use", "cluster-db-in-use", mib(status.dbSizeInUse)),
            fact("leader", "cluster-leader", status.leader.toString(16)),
          ),
          h(
            "table",
            { "data-testid": "members" },
            h(
              "thead",
              {},
              h("tr", {}, h("th", {}, "member"), h("th", {}, "name"), h("th", {}, "client URLs")),
            ),
            h(
              "tbody",
              {},
              members.members.map((mem) =>
                h(
                  "tr",
                  { "data-testid": "member" },
                  h("td", { class: "mono" }, mem.ID.toString(16), mem.ID === status.leader && " ★"),
                  h("td", {}, mem.name),
                  h("td", { class: "mono" }, mem.clientURLs.join(" ")),
                ),
              ),
            ),
          ),
          h(
            "ul",
            { class: "alarms", "data-testid": "alarms" },
            alarms.alarms.length === 0
              ? h("li", { class: "muted" }, "no alarms")
              : alarms.alarms.map((a) =>
                  h(
                    "li",
                    { class: "error", "data-testid": "alarm", "data-alarm": AlarmType[a.alarm] },
                    `${AlarmType[a.alarm]} on ${a.memberID.toString(16)} `,
                    actionButton(`Disarm ${AlarmType[a.alarm]}`, "disarm", "alarm-disarm", () =>
                      disarm(a.memberID, a.alarm),
                    ),
                  ),
                ),
          ),
        );
      } catch (err) {
        if (signal.aborted) break;
        // Keep the last picture; the stale notice says the connection is down.
        if (body.childElementCount === 0)
          fill(body, h("p", { class: "error" }, describeError(err)));
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
  void poll();
  return () => stopper.abort();
}
