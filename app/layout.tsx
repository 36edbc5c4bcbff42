import type { Metadata, Viewport } from "next";
import type { ReactNode } from "react";
import { readSession } from "@/components/auth/read-session";
import { SessionProvider } from "@/components/auth/session-provider";
import "./globals.css";

export const metadata: Metadata = {
  title: "Taskcast",
  description: "Live task queue and broadcast dashboard",
};

export const viewport: Viewport = { width: "device-width", initialScale: 1, colorScheme: "light dark" };

export default async function RootLayout({ children }: { children: ReactNode }) {
  // Who is signed in, from the first paint: every page renders for its viewer's role.
  const session = await readSession();
  return (
    <html lang="en">
      <body>
        <SessionProvider session={session}>{children}</SessionProvider>
      </body>
    </html>
  );
}
