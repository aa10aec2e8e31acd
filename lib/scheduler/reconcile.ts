/**
 * Explicit reconciliation until answered (SchedulerClient.reconcileTasks): RECONCILE the tasks,
 * again every `retryMs` for those not yet answered, until each has an update.
 */
import type { TaskStatus } from '../proto/messages.ts';
import { SchedulerClientError } from './errors.ts';

export async function reconcileUntilAnswered(
  client: {
    /** Add an `update` listener; returns the way to remove it. */
    onUpdate(listener: (s: TaskStatus) => void): () => void;
    reconcile(tasks: readonly { readonly taskId: string; readonly agentId?: string }[]): Promise<void>;
  },
  tasks: readonly { readonly taskId: string; readonly agentId?: string }[],
  o: { readonly retryMs?: number; readonly timeoutMs?: number },
): Promise<Map<string, TaskStatus>> {
  const answers = new Map<string, TaskStatus>();
  const want = new Set(tasks.map((t) => t.taskId));
  if (want.size === 0) return answers;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const off = client.onUpdate((s) => {
    if (want.has(s.taskId)) answers.set(s.taskId, s);
    if (answers.size === want.size) done();
  });
  const end = Date.now() + (o.timeoutMs ?? 30_000);
  try {
    while (answers.size < want.size) {
      if (Date.now() > end) {
        throw new SchedulerClientError(
          'DISCONNECTED',
          `reconciliation: no answer for ${[...want].filter((t) => !answers.has(t)).join(', ')} within ${o.timeoutMs ?? 30_000} ms`,
        );
      }
      await client.reconcile(tasks.filter((t) => !answers.has(t.taskId))).catch((e: unknown) => {
        if (!(e instanceof SchedulerClientError && e.code === 'DISCONNECTED')) throw e;
      });
      await Promise.race([all, new Promise((r) => setTimeout(r, Math.min(o.retryMs ?? 2000, Math.max(1, end - Date.now()))))]);
    }
    return answers;
  } finally {
    off();
  }
}
