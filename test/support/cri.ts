import * as path from "node:path"
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import { ROOT } from "./fixtures.ts"

// What the CRI suites (e2e.cri.test.ts, image.test.ts) and the Docker one share: a CRI v1 client made from
// test/support/cri.proto at run time, and the stand-in NPU device nodes the engine suites make.

/** A RuntimeService client on the unix socket `socket`: `call` sends one request (60 s deadline). */
export const criClient = (socket: string) => {
  const definition = protoLoader.loadSync(path.join(ROOT, "test/support/cri.proto"), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true
  })
  // biome-ignore lint/suspicious/noExplicitAny: the gRPC client is made from the .proto at run time
  const runtime = (grpc.loadPackageDefinition(definition) as any).runtime.v1
  const client = new runtime.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure())
  return {
    call: <A>(method: string, request: object): Promise<A> =>
      new Promise((resolve, reject) =>
        client[method](request, { deadline: Date.now() + 60_000 }, (e: Error | null, r: A) =>
          e ? reject(e) : resolve(r)
        )
      ),
    close: (): void => client.close()
  }
}

/** Stand-in NPU device nodes (made-up numbers), as name, major, minor. */
export const STAND_IN_NODES: ReadonlyArray<readonly [string, number, number]> = [
  ["davinci0", 240, 0],
  ["davinci1", 240, 1],
  ["davinci_manager", 241, 0],
  ["devmm_svm", 241, 1],
  ["hisi_hdc", 241, 2]
]
