/**
 * Offers: turning the allocator's allocations into OFFERS events, withdrawing an offer (with a
 * RESCIND when asked, on timeout, disconnection or an operator operation), and DECLINE with its
 * filter.
 */
import { MAX_DURATION_MS } from '../common/flags.ts';
import type { Offer } from '../proto/messages.ts';
import type { Allocation } from './allocator/index.ts';
import type { AgentRecord, Framework, OfferRecord } from './records.ts';
import type { MasterState } from './state.ts';

const DEFAULT_REFUSE_SECONDS = 5;

/**
 * What a run gave one framework on one agent, as one offer: the allocator hands a capable
 * framework the agent's revocable resources as an allocation of their own, next to its regular
 * ones, and Mesos offers both together (one offer per framework and agent), so that a task can
 * take revocable cpus with regular memory.
 */
function oneOfferPerAgent(allocations: Allocation[]): Allocation[] {
  if (allocations.length < 2) return allocations;
  const at = new Map<string, number>();
  const out: Allocation[] = [];
  for (const a of allocations) {
    const key = `${a.frameworkId}\0${a.agentId}`;
    const i = at.get(key);
    if (i === undefined) {
      at.set(key, out.length);
      out.push(a);
    } else {
      const b = out[i]!;
      out[i] = { frameworkId: b.frameworkId, agentId: b.agentId, resources: b.resources.plus(a.resources), revocable: b.revocable || a.revocable };
    }
  }
  return out;
}

export class Offers {
  constructor(private readonly s: MasterState) {}

  offer(allocations: Allocation[]): void {
    const byFramework = new Map<Framework, Offer[]>();
    for (const a of oneOfferPerAgent(allocations)) {
      const fw = this.s.frameworks.get(a.frameworkId);
      const agent = this.s.agents.get(a.agentId);
      if (!fw || !agent || !fw.connected || !agent.connected) {
        // Raced with a disconnection: give the resources straight back.
        this.s.opts.allocator.recoverResources(a.frameworkId, a.agentId, a.resources, this.s.now());
        continue;
      }
      const id = `${this.s.id}-O${this.s.offerSeq++}`;
      const record: OfferRecord = { id, frameworkId: fw.id, agentId: agent.id, resources: a.resources };
      this.s.offers.set(id, record);
      fw.offers.set(id, record);
      agent.offers.add(id);
      if (this.s.opts.offerTimeoutMs !== undefined) {
        record.timer = this.s.opts.clock.setTimer(this.s.opts.offerTimeoutMs, () => {
          if (this.s.offers.has(id)) this.removeOffer(record, { rescind: true });
        });
      }
      let list = byFramework.get(fw);
      if (!list) byFramework.set(fw, (list = []));
      list.push(this.offerMessage(record, fw, agent));
      this.s.log.debug(
        { offerId: id, frameworkId: fw.id, agentId: agent.id },
        `sending offer ${id} of ${a.resources.toString()} on agent ${agent.id} to framework ${fw.id}`,
      );
    }
    for (const [fw, offers] of byFramework) this.s.send(fw, { type: 'OFFERS', offers: { offers } });
  }

  offerMessage(record: OfferRecord, fw: Framework, agent: AgentRecord): Offer {
    return {
      id: record.id,
      frameworkId: fw.id,
      agentId: agent.id,
      hostname: agent.info.hostname,
      url: { scheme: this.s.opts.urlScheme ?? 'http', address: { hostname: agent.info.hostname, ip: agent.ip, port: agent.port }, path: '/slave(1)' },
      resources: record.resources.toArray(),
      attributes: agent.info.attributes,
      executorIds: Array.from(fw.executors.get(agent.id)?.keys() ?? []),
    };
  }

  /** Withdraw an offer and give its resources back (with a RESCIND event when asked). */
  removeOffer(offer: OfferRecord, how: { rescind: boolean; refuseMs?: number }): void {
    offer.timer?.cancel();
    this.s.offers.delete(offer.id);
    const fw = this.s.frameworks.get(offer.frameworkId);
    fw?.offers.delete(offer.id);
    this.s.agents.get(offer.agentId)?.offers.delete(offer.id);
    if (how.rescind && fw) this.s.send(fw, { type: 'RESCIND', rescind: { offerId: offer.id } });
    if (how.rescind)
      this.s.log.info(
        { offerId: offer.id, frameworkId: offer.frameworkId, agentId: offer.agentId },
        `rescinding offer ${offer.id} of framework ${offer.frameworkId}`,
      );
    this.s.opts.allocator.recoverResources(offer.frameworkId, offer.agentId, offer.resources, this.s.now(), how.refuseMs ?? 0);
    this.s.loop.request();
  }

  /**
   * A call's Filters.refuse_seconds in ms, as Mesos reads it: absent → 5 s; negative, or not a
   * duration (NaN, infinite, over 2^63-1 ns) → 5 s with a warning; the allocator caps the rest
   * at 365 days.
   */
  refuseMs(refuseSeconds: number | undefined): number {
    if (refuseSeconds === undefined) return DEFAULT_REFUSE_SECONDS * 1000;
    const ms = refuseSeconds * 1000;
    if (ms >= 0 && ms < MAX_DURATION_MS) return ms;
    this.s.log.warn(
      { refuseSeconds: String(refuseSeconds) },
      `using the default refuse_seconds (${DEFAULT_REFUSE_SECONDS}) for the filter: the one given is ${refuseSeconds < 0 ? 'negative' : 'not a valid duration'}`,
    );
    return DEFAULT_REFUSE_SECONDS * 1000;
  }

  decline(fw: Framework, offerIds: readonly string[], refuseSeconds: number | undefined): void {
    const refuseMs = this.refuseMs(refuseSeconds);
    for (const id of offerIds) {
      const offer = fw.offers.get(id);
      if (offer) this.removeOffer(offer, { rescind: false, refuseMs });
      this.s.log.debug({ offerId: id, frameworkId: fw.id, refuseMs }, `framework ${fw.id} declined offer ${id}`);
    }
  }
}
