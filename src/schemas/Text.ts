import { Limits } from "../Limits.ts"

/** Go's unicode.IsSpace set, so trimming matches the seed's strings.TrimSpace byte for byte. */
const isGoSpace = (c: number): boolean =>
  c === 0x20 ||
  (c >= 0x09 && c <= 0x0d) ||
  c === 0x85 ||
  c === 0xa0 ||
  c === 0x1680 ||
  (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 ||
  c === 0x2029 ||
  c === 0x202f ||
  c === 0x205f ||
  c === 0x3000

/** Trims like Go's strings.TrimSpace, in linear time (a regex trim can backtrack quadratically). */
export const trimSpace = (s: string): string => {
  let start = 0
  let end = s.length
  while (start < end && isGoSpace(s.charCodeAt(start))) start++
  while (end > start && isGoSpace(s.charCodeAt(end - 1))) end--
  return start === 0 && end === s.length ? s : s.slice(start, end)
}

/** UTF-8 length of a string, without allocating a buffer. */
export const utf8Length = (s: string): number => {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4
        i++
      } else n += 3
    } else n += 3
  }
  return n
}

/** Quotes an untrusted value for an error line: escaped (so it stays one line) and cut if long. */
export const quote = (value: string): string => {
  const cut = value.length > Limits.quotedValueChars
  const shown = JSON.stringify(cut ? value.slice(0, Limits.quotedValueChars) : value)
  return cut ? `${shown}... (${value.length} chars)` : shown
}

/** True when a string holds a NUL or another C0/C1 control character or DEL. */
export const hasControl = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true
  }
  return false
}

/** Collapses a message to one line (no newline can reach the runtime's log as a second line). */
export const oneLine = (s: string): string => s.replace(/\s*[\r\n]+\s*/g, "; ").trim()
