/**
 * The shadow jump (phantoms.ts, PhantomCrowd). On a real query the device places its user's "shadow" walker at the
 * real spot; in dummies the shadow walks on by itself from the user's last real spot. Where the simulated walk and
 * the user's real one have parted, the shadow's track jumps at the next real query — and a phantom on a taken spot
 * is shown at the nearest free spot. So the server, which knows every spot's coordinates, names in each query the
 * component whose spot is farthest (in gallery metres) from every spot of the session's previous query: the track
 * that jumped. A crowd whose tracks never jump (or all jump alike) leaves this at chance.
 */
import { sessions, type GalleryIndex, type QueryAnalysis, type SpotAttack } from '../adversaries.js';
import { argMax } from './linalg.js';

export function shadowJump(index: GalleryIndex): SpotAttack {
  const distance = (a: string, b: string) => {
    const p = index.byId.get(a)!;
    const q = index.byId.get(b)!;
    return Math.hypot(p.x - q.x, p.y - q.y);
  };
  return {
    name: 'shadow_jump',
    guess(analyses: readonly QueryAnalysis[]) {
      const out = analyses.map((a) => a.components[0]?.id ?? null);
      for (const steps of sessions(analyses).values()) {
        for (let n = 1; n < steps.length; n++) {
          const before = analyses[steps[n - 1]].components.map((c) => c.id);
          const now = analyses[steps[n]].components;
          if (before.length === 0 || now.length === 0) continue;
          const jumps = now.map((c) => Math.min(...before.map((b) => distance(c.id, b))));
          out[steps[n]] = now[argMax(jumps)].id;
        }
      }
      return out;
    },
  };
}
