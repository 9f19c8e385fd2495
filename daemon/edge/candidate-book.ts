/**
 * Replies name candidates by id only (docs/protocol.md, "Reply"); the device judges them by the reference features
 * and service information of its region pack. The book turns one into the other, and wraps the recognition client
 * so the rest of the device sees whole candidates.
 */
import type { Logger } from '../util/log.js';
import type { Candidate, QueryMessage, RegionPackMessage, ReplyMessage } from '../transport/messages.js';

/** A reply with every candidate the device knows, in the recognizer's order. */
export interface ResolvedReply {
  galleryVersion: string;
  candidates: Candidate[];
}

export interface CandidateBookCounters {
  /** Candidate ids a reply named that the region pack does not hold (another region, or a newer gallery). */
  unknownCandidates: number;
  /** Replies from another gallery version than the region pack's. */
  otherVersionReplies: number;
}

export class CandidateBook {
  readonly galleryVersion: string;
  private readonly spots = new Map<string, Pick<Candidate, 'feature' | 'info'>>();
  private readonly c: CandidateBookCounters = { unknownCandidates: 0, otherVersionReplies: 0 };
  private warnedVersion: string | undefined;

  constructor(
    pack: RegionPackMessage,
    private readonly logger?: Logger,
  ) {
    this.galleryVersion = pack.galleryVersion;
    // A pack without service information (an older recognizer, or an older cached copy) still answers by id.
    for (const s of pack.spots) this.spots.set(s.id, { feature: s.feature, info: s.info ?? { name: s.id } });
  }

  counters(): CandidateBookCounters {
    return { ...this.c };
  }

  /** The reply's candidates with the pack's features and service information; unknown ids are counted and left out. */
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
    for (const { id } of reply.candidates) {
      const spot = this.spots.get(id);
      if (spot) candidates.push({ id, feature: spot.feature, info: spot.info });
      else this.c.unknownCandidates++;
    }
    return { galleryVersion: reply.galleryVersion, candidates };
  }

  /** A transport for the edge daemon that answers with resolved replies. */
  transport(client: { query(q: QueryMessage): Promise<ReplyMessage> }): { query(q: QueryMessage): Promise<ResolvedReply> } {
    return { query: async (q) => this.resolve(await client.query(q)) };
  }
}
