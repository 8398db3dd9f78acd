/**
 * Edits a JSON document by splicing text in, never by parsing and re-serialising it: every byte outside an
 * edit stays as it was (64-bit integers that JSON.parse would round, `\u` escapes, key order, spacing).
 * Only valid JSON is handed here (the caller has parsed it once to decide), so the scanner below can be
 * small: it finds where a value starts and ends. Each function returns the new text, or a reason it would
 * not edit (a value of the wrong type on the way), in which case nothing must be written.
 */

/** A key path from the document's root: ["linux", "resources", "devices"]. */
export type Path = ReadonlyArray<string>

const isBlank = (c: string | undefined) => c === " " || c === "\t" || c === "\n" || c === "\r"

const skipBlank = (text: string, i: number): number => {
  while (isBlank(text[i])) i++
  return i
}

// The scans below jump with indexOf and a regex rather than stepping a character at a time: the binary runs
// them in the interpreter (it never tiers up), where a character loop over a config.json, several times per
// edit, cost milliseconds of every NPU container's create. For the same reason they use plain loops, not
// the array methods the engine implements in JavaScript (map, filter, find, ...): each of those costs a
// compile on its first call in a process, and the wrapper's no-request path otherwise needs none of them.

/**
 * The string whose text is `text[start, end)` (its quotes included), decoded: JSON.parse only when it holds
 * an escape. Valid JSON (all this module sees) has no raw control character or quote inside a string, so
 * one without a backslash is its own text.
 */
const stringAt = (text: string, start: number, end: number): string => {
  const inner = text.slice(start + 1, end - 1)
  return inner.includes("\\") ? (JSON.parse(text.slice(start, end)) as string) : inner
}

/** End (exclusive) of the string that starts at `i` (a `"`): the next quote not escaped by a backslash. */
const stringEnd = (text: string, i: number): number => {
  for (let j = i; ; ) {
    j = text.indexOf('"', j + 1)
    if (j === -1) throw new SyntaxError("unterminated string")
    let backslashes = 0
    while (text.charCodeAt(j - 1 - backslashes) === 0x5c) backslashes++
    if (backslashes % 2 === 0) return j + 1
  }
}

/** The characters that open or close a string, an array or an object. */
const STRUCTURAL = /["{}[\]]/g

/** End (exclusive) of the value that starts at `i` (no leading blanks). */
const valueEnd = (text: string, i: number): number => {
  const c = text[i]
  if (c === '"') return stringEnd(text, i)
  if (c === "{" || c === "[") {
    let depth = 0
    STRUCTURAL.lastIndex = i
    while (STRUCTURAL.test(text)) {
      const j = STRUCTURAL.lastIndex - 1
      const d = text[j]
      if (d === '"') STRUCTURAL.lastIndex = stringEnd(text, j)
      else if (d === "{" || d === "[") depth++
      else if (--depth === 0) return j + 1
    }
    throw new SyntaxError("unterminated container")
  }
  let j = i
  while (j < text.length && !isBlank(text[j]) && text[j] !== "," && text[j] !== "}" && text[j] !== "]") j++
  return j
}

/** A value's place in the text: [start, end). */
export interface Span {
  readonly start: number
  readonly end: number
}

/** The members of the object at `span`: each key (decoded) with its value's span. */
const members = (text: string, span: Span): Array<{ key: string; keyStart: number; value: Span }> => {
  const out: Array<{ key: string; keyStart: number; value: Span }> = []
  let i = skipBlank(text, span.start + 1)
  while (text[i] !== "}") {
    const i0 = i
    const keyEnd = stringEnd(text, i)
    const key = stringAt(text, i, keyEnd)
    i = skipBlank(text, keyEnd) + 1 // the colon
    const start = skipBlank(text, i)
    const end = valueEnd(text, start)
    out.push({ key, keyStart: i0, value: { start, end } })
    i = skipBlank(text, end)
    if (text[i] === ",") i = skipBlank(text, i + 1)
  }
  return out
}

/** The elements of the array at `span`, each as its span. */
export const elements = (text: string, span: Span): Array<Span> => {
  const out: Array<Span> = []
  let i = skipBlank(text, span.start + 1)
  while (text[i] !== "]") {
    const end = valueEnd(text, i)
    out.push({ start: i, end })
    i = skipBlank(text, end)
    if (text[i] === ",") i = skipBlank(text, i + 1)
  }
  return out
}

/** The whole document's value: valid JSON is one value between blanks, so its end needs no scan. */
const root = (text: string): Span => {
  let end = text.length
  while (end > 0 && isBlank(text[end - 1])) end--
  return { start: skipBlank(text, 0), end }
}

/** Where `path` leads: the value's span, or how far it got (the deepest object on the way and the rest). */
type Found =
  | { readonly _tag: "Found"; readonly span: Span }
  | { readonly _tag: "Missing"; readonly parent: Span; readonly rest: Path }
  | { readonly _tag: "NotObject"; readonly at: Path }

const find = (text: string, path: Path): Found => {
  let span = root(text)
  for (let k = 0; k < path.length; k++) {
    if (text[span.start] !== "{") return { _tag: "NotObject", at: path.slice(0, k) }
    let value: Span | undefined
    for (const m of members(text, span)) {
      if (m.key === path[k]) {
        value = m.value
        break
      }
    }
    if (value === undefined) return { _tag: "Missing", parent: span, rest: path.slice(k) }
    span = value
  }
  return { _tag: "Found", span }
}

const splice = (text: string, at: number, end: number, insert: string) => text.slice(0, at) + insert + text.slice(end)

/** Inserts members (already JSON text, `"key":value`) at the end of the object at `span`. */
const addMembers = (text: string, span: Span, member: string): string => {
  const close = span.end - 1
  const empty = skipBlank(text, span.start + 1) === close
  return splice(text, close, close, `${empty ? "" : ","}${member}`)
}

/** `{"a":{"b":<value>}}` for rest ["a","b"], as the member text `"a":{"b":<value>}`. */
const nest = (rest: Path, value: string): string =>
  rest.reduceRight(
    (inner, key, i) => (i === 0 ? `${JSON.stringify(key)}:${inner}` : `{${JSON.stringify(key)}:${inner}}`),
    value
  )

const where = (path: Path) => path.join(".") || "the document"

/**
 * The array at `path` with `items` (JSON texts) appended; made (with any missing objects on the way) when
 * absent, and from `null`. Anything else at that path (or a non-object on the way) is refused.
 */
export const appendToArray = (
  text: string,
  path: Path,
  items: ReadonlyArray<string>
): string | { readonly refused: string } => {
  if (items.length === 0) return text
  const found = find(text, path)
  if (found._tag === "NotObject") return { refused: `${where(found.at)} is not an object` }
  if (found._tag === "Missing") return addMembers(text, found.parent, nest(found.rest, `[${items.join(",")}]`))
  const { span } = found
  if (text.slice(span.start, span.end) === "null") return splice(text, span.start, span.end, `[${items.join(",")}]`)
  if (text[span.start] !== "[") return { refused: `${where(path)} is not an array` }
  const close = span.end - 1
  const empty = skipBlank(text, span.start + 1) === close
  return splice(text, close, close, `${empty ? "" : ","}${items.join(",")}`)
}

/** The spans and parsed values of the array at `path` (empty when absent or null; refused when not an array). */
export const arrayAt = (
  text: string,
  path: Path
): ReadonlyArray<{ readonly span: Span; readonly value: unknown }> | { readonly refused: string } => {
  const found = find(text, path)
  if (found._tag === "NotObject") return { refused: `${where(found.at)} is not an object` }
  if (found._tag === "Missing" || text.slice(found.span.start, found.span.end) === "null") return []
  if (text[found.span.start] !== "[") return { refused: `${where(path)} is not an array` }
  const out: Array<{ readonly span: Span; readonly value: unknown }> = []
  for (const span of elements(text, found.span)) {
    const value =
      text[span.start] === '"' ? stringAt(text, span.start, span.end) : JSON.parse(text.slice(span.start, span.end))
    out.push({ span, value })
  }
  return out
}

/**
 * What arrayAt would refuse at `path`, without decoding the elements: for an edit that has nothing to add
 * there but must still refuse a value of the wrong type, as it always has.
 */
export const arrayRefusal = (text: string, path: Path): { readonly refused: string } | undefined => {
  const found = find(text, path)
  if (found._tag === "NotObject") return { refused: `${where(found.at)} is not an object` }
  if (found._tag === "Missing" || text.slice(found.span.start, found.span.end) === "null") return undefined
  return text[found.span.start] === "[" ? undefined : { refused: `${where(path)} is not an array` }
}

/** Replaces the text of one value (a span from arrayAt) with `value` (JSON text). */
export const replaceValue = (text: string, span: Span, value: string): string =>
  splice(text, span.start, span.end, value)

/** The line's leading blanks before position `i`. */
const indentAt = (text: string, i: number): string => {
  const lineStart = text.lastIndexOf("\n", i - 1) + 1
  return /^[ \t]*/.exec(text.slice(lineStart, i))![0]
}

/** Where `path` ends and what it holds: for the installer's checks before an edit. */
export const valueAt = (text: string, path: Path): { readonly found: boolean; readonly value?: unknown } => {
  const found = find(text, path)
  return found._tag === "Found"
    ? { found: true, value: JSON.parse(text.slice(found.span.start, found.span.end)) }
    : { found: false }
}

/**
 * Sets the member at `path` to `value` (made with any missing objects on the way), in the layout of the
 * object it joins: a pretty-printed object gets the new member on a line of its own at its members'
 * indent, a one-line object a one-line member. An existing value is replaced in place.
 */
export const setMember = (text: string, path: Path, value: unknown): string | { readonly refused: string } => {
  const found = find(text, path)
  if (found._tag === "NotObject") return { refused: `${where(found.at)} is not an object` }
  if (found._tag === "Found") return splice(text, found.span.start, found.span.end, JSON.stringify(value))
  const parent = found.parent
  const nested = found.rest.slice(1).reduceRight<unknown>((inner, key) => ({ [key]: inner }), value)
  const list = members(text, parent)
  const multiLine = text.slice(parent.start, parent.end).includes("\n")
  const last = list[list.length - 1]
  if (!multiLine) {
    // One line: after the last member, spaced as the object is (`"a": 1, "b": 2` or `"a":1,"b":2`).
    const key = JSON.stringify(found.rest[0])
    if (last === undefined) return addMembers(text, parent, `${key}:${JSON.stringify(nested)}`)
    const spaced = text[last.value.start - 1] === " "
    const member = `${key}:${spaced ? " " : ""}${JSON.stringify(nested)}`
    return splice(text, last.value.end, last.value.end, `,${spaced ? " " : ""}${member}`)
  }
  const outer = indentAt(text, parent.start)
  const first = list[0]
  const indent = first === undefined ? `${outer}  ` : indentAt(text, first.keyStart)
  const unit = indent.length > outer.length ? indent.slice(outer.length) : "  "
  const member = `${JSON.stringify(found.rest[0])}: ${JSON.stringify(nested, null, unit).replaceAll("\n", `\n${indent}`)}`
  if (last === undefined) {
    const close = parent.end - 1
    return splice(text, parent.start + 1, close, `\n${indent}${member}\n${outer}`)
  }
  return splice(text, last.value.end, last.value.end, `,\n${indent}${member}`)
}

/** Removes the member at `path` with its comma; absent is no change. */
export const removeMember = (text: string, path: Path): string | { readonly refused: string } => {
  if (path.length === 0) return { refused: "the document cannot be removed" }
  const found = find(text, path.slice(0, -1))
  if (found._tag === "NotObject") return { refused: `${where(found.at)} is not an object` }
  if (found._tag === "Missing") return text
  if (text[found.span.start] !== "{") return { refused: `${where(path.slice(0, -1))} is not an object` }
  const list = members(text, found.span)
  const k = list.findIndex((m) => m.key === path[path.length - 1])
  if (k < 0) return text
  if (k > 0) return splice(text, list[k - 1]!.value.end, list[k]!.value.end, "")
  if (list.length > 1) return splice(text, list[0]!.keyStart, list[1]!.keyStart, "")
  return splice(text, found.span.start + 1, found.span.end - 1, "")
}
