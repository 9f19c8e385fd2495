/**
 * Replies name candidates by id or by spot digest only (docs/protocol.md, "Reply"); the device judges them by the
 * reference features and service information of its region pack. The book turns one into the other, and wraps the
 * recognition client so the rest of the device sees whole candidates.
 */
import type { Logger } from '../util/log.js';
import type { Candidate, QueryMessage, RegionPackMessage, ReplyMessage } from '../transport/messages.js';
import { digestTable } from '../transport/spot-digest.js';
import { RegionPackScan } from '../privacy/region-pack-scan.js';

/** A reply with every candidate the device knows, in the recognizer's order. */
export interface ResolvedReply {
  galleryVersion: string;
  candidates: Candidate[];
}

export interface CandidateBookCounters {
  /** Candidate ids or digests a reply named that the region pack does not hold (another region, or a newer gallery). */
  unknownCandidates: number;
  /** Replies from another gallery version than the region pack's. */
  otherVersionReplies: number;
}

export class CandidateBook {
  readonly galleryVersion: string;
  private readonly spots = new Map<string, Pick<Candidate, 'feature' | 'info'>>();
  /** The pack's ids by spot digest: several where two ids of the pack share one. */
  private readonly byDigest: Map<number, string[]>;
  private readonly c: CandidateBookCounters = { unknownCandidates: 0, otherVersionReplies: 0 };
  private warnedVersion: string | undefined;
  private readonly scan: RegionPackScan;

  /** `scan`: the one the region gate and the transform of this pack use (edge-runtime.ts); default one of its own. */
  constructor(
    pack: RegionPackMessage,
    private readonly logger?: Logger,
    scan?: RegionPackScan,
  ) {
    this.galleryVersion = pack.galleryVersion;
    this.scan = scan ?? new RegionPackScan(pack.spots);
    // A pack without service information (an older recognizer, or an older cached copy) still answers by id.
    for (const s of pack.spots) this.spots.set(s.id, { feature: s.feature, info: s.info ?? { name: s.id } });
    this.byDigest = digestTable(this.spots.keys());
  }

  counters(): CandidateBookCounters {
    return { ...this.c };
  }

  /**
   * The pack's spot nearest to `feature` by cosine, whatever its score, or null for an empty pack: the spot a real
   * k-mix query stands in for (kmix.ts names it the same way), which the device ranks beside the reply's candidates
   * (resolver.packNearest, decision 40).
   */
  nearest(feature: Float32Array): Candidate | null {
    const hit = this.scan.nearest(feature);
    const spot = hit ? this.spots.get(hit.id) : undefined;
    return hit && spot ? { id: hit.id, feature: spot.feature, info: spot.info } : null;
  }

  /**
   * The reply's candidates with the pack's features and service information; unknown ids or digests are counted and
   * left out. A digest stands for every pack spot that has it (transport/spot-digest.ts: a collision only adds a spot
   * for the resolver to score against the frame).
   */
  resolve(reply: ReplyMessage): ResolvedReply {
    if (reply.galleryVersion !== this.galleryVersion) {
      this.c.otherVersionReplies++;
      if (this.warnedVersion !== reply.galleryVersion) {
        this.warnedVersion = reply.galleryVersion;
        this.logger?.warn(
          { pack: this.galleryVersion, reply: reply.galleryVersion },
          'the recognizer answers from another gallery version than the region pack; spots the pack lacks cannot be answered until the device restarts and fetches the new pack',
        );
      }
    }
    const candidates: Candidate[] = [];
    const named = reply.digests ? Array.from(reply.digests, (d) => this.byDigest.get(d)) : reply.candidates.map(({ id }) => [id]);
    for (const ids of named) {
      if (!ids) {
        this.c.unknownCandidates++;
        continue;
      }
      for (const id of ids) {
        const spot = this.spots.get(id);
        if (spot) candidates.push({ id, feature: spot.feature, info: spot.info });
        else this.c.unknownCandidates++;
      }
    }
    return { galleryVersion: reply.galleryVersion, candidates };
  }

  /**
   * A transport for the edge daemon that answers with resolved replies. Every query asks for digests, real and dummy
   * alike (nothing on the wire may tell them apart); a recognizer that predates digests answers ids, resolved as ever.
   */
  transport(client: { query(q: QueryMessage): Promise<ReplyMessage> }): { query(q: QueryMessage): Promise<ResolvedReply> } {
    return { query: async (q) => this.resolve(await client.query({ ...q, digests: true })) };
  }
}
