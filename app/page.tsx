import { Dashboard } from "@/components/dashboard/dashboard";

// Live data comes over the socket and the JSON API, so the page is never prerendered with stale numbers.
export const dynamic = "force-dynamic";

export default function Home() {
  return <Dashboard />;
}
