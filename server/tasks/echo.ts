// `echo`: the result is the payload.
import { z } from "zod";
import { PayloadSchema } from "../../lib/contract";
import { defineTask } from "./define-task";

export const echoTask = defineTask({
  name: "echo",
  description: "Returns its payload as the result.",
  example: { hello: "world" },
  payload: PayloadSchema as z.ZodType<Record<string, unknown>>,
  async run(payload) {
    return payload;
  },
});
