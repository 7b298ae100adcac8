/**
 * The process's metrics registry, rendered in the Prometheus text format at
 * `GET /metrics`. Components register a collector that is called on every
 * scrape, so gauges are read live instead of being copied on every change.
 *
 * @module
 */

/** One time series of a metric family. */
export interface MetricSample {
  /** Label names and values; empty for an unlabelled series. */
  labels?: Record<string, string>;
  value: number;
}

/** One metric family: a name, its help text, its type and its series. */
export interface MetricFamily {
  /** Prometheus metric name, e.g. `audiosync_limiter_in_flight`. */
  name: string;
  help: string;
  type: "gauge" | "counter";
  samples: MetricSample[];
}

/** A function that returns the current value of some metric families. */
export type MetricsCollector = () => MetricFamily[];

/**
 * Holds the collectors of one process and renders them.
 *
 * @example
 * ```ts
 * import { MetricsRegistry } from "./metrics.ts";
 * const metrics = new MetricsRegistry();
 * metrics.register(() => [{ name: "up", help: "1 when serving", type: "gauge", samples: [{ value: 1 }] }]);
 * console.log(metrics.render());
 * ```
 */
export class MetricsRegistry {
  #collectors: MetricsCollector[] = [];

  /**
   * Adds a collector; returns a function that removes it again.
   *
   * @param collector called on every render
   */
  register(collector: MetricsCollector): () => void {
    this.#collectors.push(collector);
    return () => {
      const at = this.#collectors.indexOf(collector);
      if (at >= 0) this.#collectors.splice(at, 1);
    };
  }

  /** Every family of every collector; families of one name are merged. */
  collect(): MetricFamily[] {
    const byName = new Map<string, MetricFamily>();
    for (const collector of this.#collectors) {
      for (const family of collector()) {
        const known = byName.get(family.name);
        if (known) known.samples.push(...family.samples);
        else {byName.set(family.name, {
            ...family,
            samples: [...family.samples],
          });}
      }
    }
    return [...byName.values()];
  }

  /** The Prometheus text exposition (version 0.0.4) of every family. */
  render(): string {
    const lines: string[] = [];
    for (const family of this.collect()) {
      lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
      lines.push(`# TYPE ${family.name} ${family.type}`);
      for (const sample of family.samples) {
        lines.push(
          `${family.name}${renderLabels(sample.labels)} ${
            renderValue(sample.value)
          }`,
        );
      }
    }
    return lines.join("\n") + "\n";
  }
}

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function renderLabels(labels: Record<string, string> | undefined): string {
  if (!labels) return "";
  const parts = Object.entries(labels).map(([name, value]) =>
    `${name}="${
      value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll(
        '"',
        '\\"',
      )
    }"`
  );
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function renderValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
