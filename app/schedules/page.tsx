import type { Metadata } from "next";
import { SchedulesPage } from "@/components/schedules/schedules-page";

export const metadata: Metadata = { title: "Schedules · Taskcast" };

// Live data comes over the socket and the JSON API, so the page is never prerendered.
export const dynamic = "force-dynamic";

export default function Page() {
  return <SchedulesPage />;
}
