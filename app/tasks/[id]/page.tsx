import { TaskDetail } from "@/components/tasks/task-detail";

// Live data comes over the socket and the JSON API, so the page is never prerendered.
export const dynamic = "force-dynamic";

export default async function Page({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <TaskDetail id={safeDecode(id)} />;
}

/** Route params may arrive still percent-encoded; an id with a stray "%" stays as it is. */
function safeDecode(id: string): string {
  try {
    return decodeURIComponent(id);
  } catch {
    return id;
  }
}
