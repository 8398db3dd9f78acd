/** `{"a":{"b":1}}` at ["a"]["b"]: the path of a value inside a JSON document, as an error names it. */
export type JsonPath = ReadonlyArray<string | number>

/** One problem with a decoded document, worded as Effect's Schema words it: `Expected string; at ["bundle"]`. */
export const issue = (problem: string, path: JsonPath): string =>
  path.length === 0 ? problem : `${problem}; at ${path.map((p) => `[${JSON.stringify(p)}]`).join("")}`

/** A JSON object: not null, not an array. */
export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)
