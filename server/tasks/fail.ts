// `fail`: fails with the given message, for trying out error handling.
import { z } from "zod";
import { defineTask, TaskFailure } from "./define-task";

export const failTask = defineTask({
  name: "fail",
  description: "Fails at once with `message`, without retries (a TaskFailure).",
  example: { message: "something went wrong" },
  payload: z.strictObject({ message: z.string().default("task failed on purpose") }),
  async run({ message }) {
    throw new TaskFailure(message);
  },
});
