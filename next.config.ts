import type { NextConfig } from "next";

// Built with `next build` and served by our own server (server/web.ts); `output: "standalone"` does not fit a custom server.
const nextConfig: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
};

export default nextConfig;
