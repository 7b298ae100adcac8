/**
 * Which webhook URLs a user may register: HTTPS to a public host. The
 * service posts summaries to them from inside its network, so loopback,
 * private, link-local (cloud metadata) and other internal addresses are
 * refused when the URL is saved.
 *
 * DNS names are checked by name only; a public name that resolves to an
 * internal address is not caught here (the notifier also refuses to follow
 * redirects, so a public endpoint cannot bounce a request inward).
 *
 * @module
 */

/** Host names that always mean this machine or its private network. */
const INTERNAL_NAMES =
  /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/i;

/**
 * Why `text` is not an acceptable webhook URL, or null when it is.
 *
 * @param text the URL the user sent
 */
export function webhookUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "webhook_url must be an absolute URL";
  }
  if (url.protocol !== "https:") return "webhook_url must use https";
  if (url.username || url.password) {
    return "webhook_url must not carry credentials";
  }
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host.includes(":")) {
    return isPublicIpv6(host)
      ? null
      : "webhook_url must not point at an internal address";
  }
  if (/^[\d.]+$/.test(host)) {
    return isPublicIpv4(host)
      ? null
      : "webhook_url must not point at an internal address";
  }
  if (!host.includes(".") || INTERNAL_NAMES.test(host)) {
    return "webhook_url must name a public host";
  }
  return null;
}

function isPublicIpv4(host: string): boolean {
  const parts = host.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) {
    return false;
  }
  const [a, b, c] = parts;
  return !(
    a === 0 || a === 10 || a === 127 || a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) || // carrier-grade NAT
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0 && c === 0) ||
    (a === 198 && (b === 18 || b === 19)) // benchmarking
  );
}

function isPublicIpv6(host: string): boolean {
  if (host === "::" || host === "::1") return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  if (mapped) return isPublicIpv4(mapped[1]);
  if (/^::ffff:/.test(host)) return false;
  const first = parseInt(host.split(":")[0] || "0", 16);
  return !(
    (first & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (first & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (first & 0xff00) === 0xff00 // multicast
  );
}
