import type { Candidate, RegionPack, ServiceInfo } from '../domain/spot.js';

export interface SpotRecord {
  id: string;
  feature: Float32Array;
  info: ServiceInfo;
  /** ms since epoch when last seen in a reply. */
  updatedAt: number;
}

export interface ResultRecord {
  at: number;
  spotId: string | null;
  score: number;
  /** Frame label or other local context; never leaves the device. */
  label?: string;
}

/** The device's local store: spots and service info from replies, and the history of results. */
export interface Gallery {
  upsertCandidates(candidates: Candidate[], now?: number): void;
  getSpot(id: string): SpotRecord | undefined;
  allSpots(): SpotRecord[];
  recordResult(result: ResultRecord): void;
  /** Most recent first. */
  history(limit?: number): ResultRecord[];
  /** Keeps the latest region pack per (region, model), so decoys are available offline after a restart. */
  saveRegionPack(pack: RegionPack, now?: number, trustedKeys?: string): void;
  loadRegionPack(region: string, model: string): RegionPack | undefined;
  close(): void;
}
