/**
 * A CLI's progress line on stderr: rewritten in place on a terminal (so a
 * long copy shows one moving line), one line per report otherwise (so logs
 * and pipes keep every report). `done` ends the line on a terminal.
 */
export interface ProgressLine {
  /** Shows `text` as the current progress. */
  update(text: string): void;
  /** Shows `text` as the last line: ends it with a newline on a terminal too. */
  done(text: string): void;
  /** Ends a line left open on a terminal (before an error message). */
  end(): void;
}

/** A {@link ProgressLine} on `stream`, default process.stderr. */
export function createProgressLine(stream: NodeJS.WriteStream = process.stderr): ProgressLine {
  const tty = stream.isTTY === true;
  let open = false;
  const write = (text: string, final: boolean) => {
    if (!tty) {
      stream.write(`${text}\n`);
      return;
    }
    stream.write(`\r\x1b[K${text}${final ? "\n" : ""}`);
    open = !final;
  };
  return {
    update: (text) => write(text, false),
    done: (text) => write(text, true),
    end() {
      if (open) stream.write("\n");
      open = false;
    },
  };
}

/** Bytes as MiB with one decimal, as the progress lines print them. */
export function formatMiB(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
