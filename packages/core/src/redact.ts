/**
 * A connection URL fit for logs: the password (and any `password=` query parameter) replaced by `***`.
 * `redis://u:secret@h:6379/0` → `redis://u:***@h:6379/0`. Never throws: text that does not parse as a
 * URL is redacted by pattern.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    for (const key of [...parsed.searchParams.keys()]) {
      if (/^(password|pass|pwd|secret|token)$/i.test(key)) parsed.searchParams.set(key, '***')
    }
    // URL percent-encodes '*' in the password: put the literal back.
    return parsed.toString().replace(/%2A%2A%2A/gi, '***')
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@')
  }
}
