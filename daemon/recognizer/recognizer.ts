import type {
  CandidateRef,
  ErrorMessage,
  QueryMessage,
  RecognizerInfoMessage,
  RegionPackMessage,
  RegionRequestMessage,
  RegionSpot,
  ReplyMessage,
  WireErrorCode,
} from '../transport/messages.js';
import { schemaDefault } from '../config/load.js';
import { isFiniteFeature } from '../domain/feature.js';
import { spotDigest } from '../transport/spot-digest.js';
import type { SpotHit, SpotIndex } from './spot-index.js';
import type { SpotStore, SpotStoreMeta, StoredSpot } from './spot-store.js';

export interface RecognizerOptions {
  /** Most candidates one reply may carry; larger requests are clamped, not refused. */
  maxTopM?: number;
  /** Spots in one page of a region pack, for a request that names a page (regionPageSpots; decision 68). */
  regionPageSpots?: number;
}

/**
 * The recognizer's request logic, free of MQTT: a query becomes the ids (or, when it asks, the spot digests) of the
 * top-M spots by cosine; a region request becomes that region's pack, with every spot's reference feature and service
 * information. The gallery is loaded once and never changes while serving. Nothing about a query outlives its reply —
 * no log, no counters per query. Handlers never throw on bad input: they answer with an ErrorMessage.
 */
export class Recognizer {
  private readonly meta: SpotStoreMeta;
  private readonly spots: Map<string, StoredSpot>;
  /** Every spot's digest (transport/spot-digest.ts), computed once: a reply by digest costs a lookup per candidate. */
  private readonly digests: Map<string, number>;
  private readonly packs: Map<string, RegionSpot[]>;
  private readonly maxTopM: number;
  private readonly regionPageSpots: number;

  constructor(
    store: SpotStore,
    private readonly index: SpotIndex,
    options: RecognizerOptions = {},
  ) {
    // The service passes its profile's maxTopM; without one, the schema's default (one default everywhere).
    this.maxTopM = options.maxTopM ?? (schemaDefault('recognizer', 'maxTopM') as number);
    if (!Number.isInteger(this.maxTopM) || this.maxTopM < 1) throw new RangeError('maxTopM must be a positive integer');
    this.regionPageSpots = options.regionPageSpots ?? (schemaDefault('recognizer', 'regionPageSpots') as number);
    if (!Number.isInteger(this.regionPageSpots) || this.regionPageSpots < 1) throw new RangeError('regionPageSpots must be a positive integer');
    this.meta = store.meta();
    const all = store.all();
    if (index.size !== all.length) {
      throw new Error(`the index holds ${index.size} spots but the gallery ${store.path} holds ${all.length}; rebuild the index`);
    }
    this.spots = new Map(all.map((s) => [s.id, s]));
    this.digests = new Map(all.map((s) => [s.id, spotDigest(s.id)]));
    this.packs = new Map<string, RegionSpot[]>([['*', []]]);
    for (const s of all) {
      const spot: RegionSpot = {
        id: s.id,
        feature: s.feature,
        x: s.x,
        y: s.y,
        popularity: s.popularity,
        ...(s.view ? { view: s.view } : {}),
        info: s.info,
      };
      this.packs.get('*')!.push(spot);
      if (!this.packs.has(s.region)) this.packs.set(s.region, []);
      this.packs.get(s.region)!.push(spot);
    }
  }

  info(): RecognizerInfoMessage {
    return {
      type: 'info',
      model: this.meta.model,
      dimension: this.meta.dimension,
      galleryVersion: this.meta.galleryVersion,
      spots: this.spots.size,
      regions: [...this.packs.keys()].filter((r) => r !== '*').sort(),
    };
  }

  handleQuery(q: QueryMessage): ReplyMessage | ErrorMessage {
    const checked = this.checkQuery(q);
    return typeof checked === 'number' ? this.reply(this.index.search(q.vector, checked), q.digests === true) : checked;
  }

  /**
   * The same answer through the index's batched path when it has one (OnnxScanIndex: the queries that arrive together
   * are scored in one matrix product); otherwise handleQuery's.
   */
  async handleQueryAsync(q: QueryMessage): Promise<ReplyMessage | ErrorMessage> {
    if (!this.index.searchAsync) return this.handleQuery(q);
    const checked = this.checkQuery(q);
    return typeof checked === 'number' ? this.reply(await this.index.searchAsync(q.vector, checked), q.digests === true) : checked;
  }

  /** The reply size (topM clamped to maxTopM) of a well-formed query; the error reply of any other. */
  private checkQuery(q: QueryMessage): number | ErrorMessage {
    const wrong = this.checkModel(q);
    if (wrong) return wrong;
    if (!isFiniteFeature(q.vector, this.meta.dimension)) {
      return error('bad-request', `vector must hold ${this.meta.dimension} finite numbers`);
    }
    if (typeof q.topM !== 'number' || !(q.topM >= 1)) return error('bad-request', 'topM must be a number ≥ 1');
    return Math.min(Math.floor(q.topM), this.maxTopM);
  }

  private reply(hits: readonly SpotHit[], byDigest: boolean): ReplyMessage {
    // Ids (or their digests, when the query asked for them) only, best first: the device holds every spot's feature
    // and service information in its region pack, and computes the scores itself from the query it sent.
    const head = { type: 'reply', model: this.meta.model, galleryVersion: this.meta.galleryVersion } as const;
    if (byDigest) return { ...head, candidates: [], digests: Uint32Array.from(hits, ({ id }) => this.digests.get(id) ?? spotDigest(id)) };
    const candidates: CandidateRef[] = hits.map(({ id }) => ({ id }));
    return { ...head, candidates };
  }

  handleRegion(r: RegionRequestMessage): RegionPackMessage | ErrorMessage {
    const wrong = this.checkModel(r);
    if (wrong) return wrong;
    if (typeof r.region !== 'string' || r.region === '') return error('bad-request', 'region must be a non-empty string');
    const spots = this.packs.get(r.region);
    if (!spots) return error('unknown-region', `no region '${r.region}'; known: ${this.info().regions.join(', ')} or '*'`);
    const head = { type: 'region-pack', model: this.meta.model, region: r.region, galleryVersion: this.meta.galleryVersion } as const;
    if (r.page === undefined) return { ...head, spots };
    // Pages of one size, so the sizes on the wire say no more than the region's spot count, which `info` announces.
    const pages = Math.max(1, Math.ceil(spots.length / this.regionPageSpots));
    if (!(Number.isInteger(r.page) && r.page >= 0 && r.page < pages)) {
      return error('bad-request', `region '${r.region}' has pages 0 to ${pages - 1}, not ${String(r.page)}`);
    }
    const from = r.page * this.regionPageSpots;
    return { ...head, page: r.page, pages, spots: spots.slice(from, from + this.regionPageSpots) };
  }

  /** The names transport/recognizer-endpoint.ts's RecognizerHandler calls, so a Recognizer can be passed as is. */
  query(q: QueryMessage): ReplyMessage | ErrorMessage | Promise<ReplyMessage | ErrorMessage> {
    return this.index.searchAsync ? this.handleQueryAsync(q) : this.handleQuery(q);
  }

  region(r: RegionRequestMessage): RegionPackMessage | ErrorMessage {
    return this.handleRegion(r);
  }

  private checkModel(message: { model?: unknown }): ErrorMessage | undefined {
    if (message?.model === this.meta.model) return undefined;
    return error('wrong-model', `this recognizer serves model ${this.meta.model}, not ${String(message?.model)}`);
  }
}

function error(code: WireErrorCode, message: string): ErrorMessage {
  return { type: 'error', code, message };
}
