// Preloaded into a child process (`node --import`) to run it on a clock TEST_CLOCK_OFFSET_MS off this machine's,
// as another machine's clock may be. Only Date.now() is moved: what Taskcast compares liveness with.
const offsetMs = Number(process.env.TEST_CLOCK_OFFSET_MS ?? 0);
const machineNow = Date.now.bind(Date);
Date.now = () => machineNow() + offsetMs;
