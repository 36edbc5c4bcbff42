// zod for the modules the browser loads too. In the browser it runs without its `new Function` fast path:
// the page's Content-Security-Policy has no 'unsafe-eval', and zod's probe for it is reported as a violation.
import { z } from "zod";

// Must run before any schema is built (the fast path is chosen per object schema as it is created), hence
// every schema module in lib/ imports z from here.
if (typeof window !== "undefined") z.config({ jitless: true });

export { z };
