import type { ConclaveClient } from "@conclave/client";
import { AlarmRequest_AlarmAction, AlarmType } from "@conclave/proto";
import { describeError } from "./access-errors.js";
import type { ActionRunner } from "./action-runner.js";
import { fill, fillKeepingFocus, h } from "./dom.js";
import type { LiveState } from "./live-state.js";
import type { MetricsFeed } from "./metrics-sampler.js";
import { actionButton, panel } from "./panel.js";
import { formatBytes, formatPercent, quotaUse } from "./quota.js";

/** How often status, members and alarms are read, ms. */
const pollMs = 2_000;

const mib = (bytes: bigint) => `${(Number(bytes) / 2 ** 20).toFixed(1)} MiB`;

/**
 * Cluster and maintenance: members, version, revision, DB size and in-use
 * size against the backend quota (from /metrics' etcd_server_quota_backend_bytes)
 * with the NOSPACE alarm, alarms (each can be disarmed), the member leading
 * the cluster duties, and compaction to a revision. Polled (Status,
 * MemberList and Alarm GET need no permission); returns the stop function.
 */
export function mountClusterView(
  parent: HTMLElement,
  state: LiveState,
  client: ConclaveClient,
  actions: ActionRunner,
  metrics: MetricsFeed,
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

  /** The DB against the quota: re-drawn on each Status poll and each /metrics reading. */
  const quotaBox = h("div", { class: "quota", "data-testid": "quota" });
  let sizes: { dbSize: number; dbInUse: number } | undefined;
  let noSpace = false;
  function renderQuota(): void {
    if (sizes === undefined) return;
    const use = quotaUse(sizes.dbSize, sizes.dbInUse, metrics.points.at(-1)?.quotaBytes);
    quotaBox.dataset.kind = use.kind;
    quotaBox.dataset.alarm = noSpace ? "NOSPACE" : "";
    const alarmLine = noSpace
      ? h(
          "p",
          { class: "error", "data-testid": "quota-alarm" },
          "NOSPACE alarm: writes are refused. Compact, defragment, then disarm it below.",
        )
      : h("p", { class: "muted", "data-testid": "quota-alarm" }, "no NOSPACE alarm");
    if (use.kind !== "quota") {
      fill(
        quotaBox,
        h(
          "p",
          { "data-testid": "quota-text" },
          use.kind === "off"
            ? "no backend quota (--quota-backend-bytes is negative)"
            : "quota unknown: /metrics has no etcd_server_quota_backend_bytes (yet)",
        ),
        alarmLine,
      );
      return;
    }
    const pct = (p: number) => `${Math.min(100, p).toFixed(2)}%`;
    fill(
      quotaBox,
      h(
        "p",
        { "data-testid": "quota-text" },
        "DB ",
        h("span", { class: "mono" }, formatBytes(sizes.dbSize)),
        " of the ",
        h("span", { class: "mono", "data-testid": "quota-bytes" }, formatBytes(use.quotaBytes)),
        " quota: ",
        h(
          "strong",
          { class: "mono", "data-testid": "quota-percent", "data-percent": use.sizePercent },
          formatPercent(use.sizePercent),
        ),
        " (in use ",
        h("span", { class: "mono" }, formatPercent(use.inUsePercent)),
        ")",
      ),
      h(
        "div",
        {
          class: `quota-bar${noSpace || use.sizePercent >= 90 ? " full" : ""}`,
          role: "meter",
          "aria-label": "DB size against the backend quota",
          "aria-valuemin": 0,
          "aria-valuemax": 100,
          "aria-valuenow": Math.round(use.sizePercent * 10) / 10,
          "aria-valuetext": `${formatPercent(use.sizePercent)} of the quota (in use ${formatPercent(use.inUsePercent)})`,
          "data-testid": "quota-bar",
        },
        h("span", { class: "quota-size", style: `width: ${pct(use.sizePercent)}` }),
        h("span", { class: "quota-in-use", style: `width: ${pct(use.inUsePercent)}` }),
      ),
      alarmLine,
    );
  }
  const unsubscribeMetrics = metrics.subscribe(renderQuota);

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
        sizes = { dbSize: Number(status.dbSize), dbInUse: Number(status.dbSizeInUse) };
        noSpace = alarms.alarms.some((a) => a.alarm === AlarmType.NOSPACE);
        renderQuota();
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
          quotaBox,
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
  return () => {
    stopper.abort();
    unsubscribeMetrics();
  };
}
