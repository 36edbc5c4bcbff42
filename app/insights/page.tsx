import type { Metadata } from "next";
import { Insights } from "@/components/insights/insights";

export const metadata: Metadata = { title: "Insights · Taskcast" };

// Everything on the page is live, so it is never prerendered with stale numbers.
export const dynamic = "force-dynamic";

export default function InsightsPage() {
  return <Insights />;
}
