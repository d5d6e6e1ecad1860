// The allowlist of docs/PROTOCOL.md section 9.3: deny by default, entries
// canonicalised once by the platform's own URL parser (the one that writes
// event.origin), exact entries compared as strings, wildcard entries over
// one owner's domain only. The same table of adversarial origins as
// bus-core's holds it (docs/protocol/origins.json).

/** Why an allowlist entry was refused. */
export type Problem =
  | "empty"
  | "whitespace"
  | "opaque-not-a-pattern"
  | "not-a-url"
  | "scheme"
  | "userinfo"
  | "path"
  | "query"
  | "fragment"
  | "percent-encoded"
  | "regex-like"
  | "misplaced-wildcard"
  | "wildcard-over-public-suffix"
  | "wildcard-over-ip"
  | "trailing-dot";

/** An allowlist entry that cannot be used, with what to write instead. */
export class OriginError extends Error {
  constructor(
    readonly entry: string,
    readonly problem: Problem,
  ) {
    super(
      `allowlist entry "${entry}": ${problem}; ${
        problem == "opaque-not-a-pattern"
          ? "pass allowOpaqueOrigins: true for sandboxed and data: frames"
          : "write scheme://host[:port] or scheme://*.domain[:port] over a domain you own"
      }`,
    );
  }
}

// Multi-label public suffixes a wildcard may not stand over: the browser
// build's short list, the same as bus-core's (a test holds them equal). Any
// single label but localhost is refused as well.
const SUFFIXES = new Set(
  (
    "ac.in ac.jp ac.uk appspot.com azurestaticapps.net azurewebsites.net bitbucket.io blogspot.com " +
    "cloudfront.net co.at co.id co.il co.in co.jp co.kr co.nz co.th co.uk co.za codeberg.page com.ar " +
    "com.au com.br com.cn com.co com.eg com.hk com.mx com.my com.ng com.pe com.ph com.pk com.sa com.sg " +
    "com.tr com.tw com.ua com.vn edu.au firebaseapp.com fly.dev github.io gitlab.io gov.au gov.uk " +
    "herokuapp.com ltd.uk me.uk ne.jp net.au net.br net.cn net.in netlify.app now.sh onrender.com " +
    "or.jp or.kr org.au org.br org.cn org.in org.nz org.uk pages.dev plc.uk readthedocs.io surge.sh " +
    "vercel.app web.app workers.dev"
  ).split(" "),
);

/** The suffixes above, for the test that holds them equal to bus-core's. */
export const builtInSuffixes = (): string[] => [...SUFFIXES];

const isIp = (host: string): boolean => host[0] == "[" || /^[\d.]+$/.test(host);

// Checks of a raw entry, in order: the first that matches names the problem.
// What passes is `scheme://host[:port]`, maybe with `*.` before the host and
// a `/` after it.
const RULES: [RegExp, Problem][] = [
  [/^\s*$/, "empty"],
  [/[\s\p{Cc}]/u, "whitespace"],
  [/^null$/i, "opaque-not-a-pattern"],
  [/^(?![^:]*:\/\/)/, "not-a-url"],
  [/^(?!https?:\/\/)/i, "scheme"],
  [/[\^$()|\\+{}<>]/, "regex-like"],
  [/%/, "percent-encoded"],
  [/@/, "userinfo"],
  // A star anywhere but in a `*.` right after the scheme, or a second one.
  [/^[^:]*:\/\/(?!\*\.[^*]*$).*\*/, "misplaced-wildcard"],
  [/^[^#]*\?/, "query"],
  [/#/, "fragment"],
  [/:\/\/[^/]*\/./, "path"],
];

/** An entry's canonical form: the origin for an exact entry, `scheme://*.domain[:port]` for a wildcard. */
function parse(raw: string): string {
  const no = (p: Problem): never => {
    throw new OriginError(raw, p);
  };
  for (const [re, p] of RULES) if (re.test(raw)) no(p);
  let url: URL;
  try {
    url = new URL(raw.replace("*.", ""));
  } catch {
    return no("not-a-url");
  }
  const host = url.hostname;
  if (host.endsWith(".")) no("trailing-dot");
  if (!raw.includes("*")) return url.origin;
  if (isIp(host)) no("wildcard-over-ip");
  if (host.includes(".") ? SUFFIXES.has(host) : host != "localhost") no("wildcard-over-public-suffix");
  return url.origin.replace("//", "//*.");
}

/**
 * Who may talk to us. Deny by default: an empty allowlist allows nothing.
 *
 * ```ts
 * const allow = new Allowlist(["https://shop.example", "https://*.shop.example"]);
 * allow.allows("https://eu.shop.example"); // true
 * allow.allows("https://shop.example.evil.com"); // false
 * ```
 */
export class Allowlist {
  /** Canonical exact origins, in the order given. */
  readonly exact: string[] = [];
  /** Canonical wildcard entries, `scheme://*.domain[:port]`. */
  private readonly _wild: string[] = [];

  /**
   * Throws an {@link OriginError} that says what to write for any entry that
   * is not `scheme://host[:port]` or `scheme://*.domain[:port]`.
   * `allowOpaqueOrigins` also allows the origin `"null"` (sandboxed and
   * `data:` frames); only then is a window post ever sent to `"*"`.
   */
  constructor(
    entries: Iterable<string>,
    readonly opaque = false,
  ) {
    for (const raw of entries) {
      const e = parse(raw);
      const list = e.includes("*") ? this._wild : this.exact;
      if (!list.includes(e)) list.push(e);
    }
  }

  /** Whether nothing is allowed. */
  get empty(): boolean {
    return !this.exact.length && !this._wild.length && !this.opaque;
  }

  /** Whether `origin`, as the browser wrote it in `event.origin`, is allowed. */
  allows(origin: string): boolean {
    if (origin == "null") return this.opaque;
    if (this.exact.includes(origin)) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    const host = url.hostname;
    // Only what a browser writes as an origin, exactly (no path, no default
    // port, no upper case), with a DNS name of non-empty labels; then each
    // domain above the host, as a wildcard entry over it would read.
    if (url.origin != origin || isIp(host) || !/^[a-z\d_-]+(\.[a-z\d_-]+)*$/.test(host)) return false;
    for (let i = 0; (i = host.indexOf(".", i) + 1); )
      if (this._wild.includes(origin.replace(host, "*." + host.slice(i)))) return true;
    return false;
  }

  /** The canonical entries, space-separated (`null` last when opted in). */
  toString(): string {
    return [...this.exact, ...this._wild, ...(this.opaque ? ["null"] : [])].join(" ");
  }
}
