#!/usr/bin/env node
// Regenerates samples/: ten real photographs from Debian's mate-backgrounds package, resized for the
// demo, with their spot metadata and licence notes.
//
//   sudo apt-get install mate-backgrounds   # if /usr/share/backgrounds/mate/nature is missing
//   node scripts/make-samples.mjs
//
// The spots are an invented park of about 1 km across; the photographs stand for what a visitor's
// camera sees at each spot.

import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = '/usr/share/backgrounds/mate/nature';
const OUT = join(ROOT, 'samples');
const SPOTS = join(OUT, 'spots');
const MAX_WIDTH = 640;
const QUALITY = 85;
const GPL = '/usr/share/common-licenses/GPL-2';

// Authors as listed in /usr/share/doc/mate-backgrounds/copyright.
const SPOT_LIST = [
  {
    id: 'aqua', file: 'Aqua.jpg', author: '2008, Charles Barbin <barbinch@free.fr>',
    name: 'Aqua Fountain', description: 'A drop caught mid-splash in the basin of the old stone fountain.',
    x: 412, y: 388, popularity: 0.9,
  },
  {
    id: 'blinds', file: 'Blinds.jpg', author: '2008, Lennart Poettering <mztabzr@0pointer.de>; 2008, Andrea Cimitan',
    name: 'Palm House', description: 'Backlit leaves in the glasshouse of tropical plants.',
    x: 655, y: 462, popularity: 0.55,
  },
  {
    id: 'dune', file: 'Dune.jpg', author: '2007, Marco Cogoni <cogoni@gmail.com>; 2008, Hylke Bons <hylkebons@gmail.com>',
    name: 'Dune Lookout', description: 'Marram grass on the dune ridge above the bathing beach.',
    x: 930, y: 140, popularity: 0.7,
  },
  {
    id: 'garden', file: 'Garden.jpg', author: '2008, Charles Barbin <barbinch@free.fr>',
    name: 'Cottage Garden', description: 'Red zinnias along the path of the walled cottage garden.',
    x: 318, y: 512, popularity: 0.6,
  },
  {
    id: 'ladybird', file: 'LadyBird.jpg', author: '2008, Charles Barbin <barbinch@free.fr>',
    name: 'Ladybird Meadow', description: 'Wild forget-me-nots where the children look for ladybirds.',
    x: 205, y: 270, popularity: 0.5,
  },
  {
    id: 'raindrops', file: 'RainDrops.jpg', author: '2008, "blackcombwhistler07" <blackcombwhistler07@googlemail.com>',
    name: 'Fern Gully', description: 'Rain-soaked leaves in the shaded gully below the waterfall.',
    x: 120, y: 705, popularity: 0.35,
  },
  {
    id: 'storm', file: 'Storm.jpg', author: '2008, Sergey Nazarov <phearnot@renee.ru>',
    name: 'Storm Road Viewpoint', description: 'The open plain seen from the coast road; weather comes in from the west.',
    x: 860, y: 620, popularity: 0.3,
  },
  {
    id: 'two-wings', file: 'TwoWings.jpg', author: '2008, Charles Barbin <barbinch@free.fr>; 2008, Hylke Bons <hylkebons@gmail.com>',
    name: 'Seed Clock Bed', description: 'Dandelion seeds drifting over the marigold bed by the visitor centre.',
    x: 470, y: 250, popularity: 0.8,
  },
  {
    id: 'wood', file: 'Wood.jpg', author: '2008, Jean-François Fortin Tam <nekohayo@gmail.com>',
    name: 'Boardwalk', description: 'Weathered planks of the boardwalk across the reed marsh.',
    x: 720, y: 300, popularity: 0.45,
  },
  {
    id: 'yellow-flower', file: 'YellowFlower.jpg', author: '2008, Charles Barbin <barbinch@free.fr>',
    name: 'Sunflower Terrace', description: 'Yellow daisies on the south-facing terrace of the café.',
    x: 540, y: 560, popularity: 0.65,
  },
];

async function main() {
  try {
    await stat(SOURCE);
  } catch {
    throw new Error(`${SOURCE} is missing: install the Debian package mate-backgrounds (apt-get install mate-backgrounds)`);
  }
  await mkdir(SPOTS, { recursive: true });
  // Start clean so a renamed spot leaves no stale picture behind.
  for (const name of await readdir(SPOTS)) await rm(join(SPOTS, name));

  const spots = {};
  let total = 0;
  for (const s of SPOT_LIST) {
    const out = join(SPOTS, `${s.id}.jpg`);
    const info = await sharp(join(SOURCE, s.file))
      .autoOrient()
      .resize({ width: MAX_WIDTH, withoutEnlargement: true })
      .jpeg({ quality: QUALITY })
      .toFile(out);
    total += info.size;
    spots[s.id] = {
      name: s.name,
      description: s.description,
      url: `https://example.org/park/${s.id}`,
      x: s.x,
      y: s.y,
      popularity: s.popularity,
    };
  }
  await writeFile(join(SPOTS, 'spots.json'), `${JSON.stringify(spots, null, 2)}\n`);
  await writeFile(join(OUT, 'LICENSE.md'), licence());
  await copyFile(GPL, join(OUT, 'GPL-2.txt')).catch(() => undefined);
  console.log(`samples/spots: ${SPOT_LIST.length} photos, ${(total / 1024).toFixed(0)} KiB`);
}

function licence() {
  const rows = SPOT_LIST.map((s) => `| \`spots/${s.id}.jpg\` | \`nature/${s.file}\` | ${s.author.replace(/\|/g, '\\|')} | GPL-2+ |`);
  return `# Sample spot photographs: origin and licence

The photographs in \`spots/\` are **not** under the project's Apache-2.0 licence. They come from the
MATE desktop's wallpaper collection, as packaged by Debian (\`mate-backgrounds\`, files under
\`/usr/share/backgrounds/mate/nature/\`; upstream source: https://git.mate-desktop.org/mate-backgrounds/),
and are distributed under the **GNU General Public License, version 2 or (at your option) any later
version** (GPL-2+). The full licence text is in \`GPL-2.txt\` beside this file. Copyright holders
below are as listed in \`/usr/share/doc/mate-backgrounds/copyright\`.

Modifications: each picture was resized to at most ${MAX_WIDTH} px wide and re-encoded as JPEG quality ${QUALITY}
by \`scripts/make-samples.mjs\`, which regenerates them from the Debian package. The original
full-size files (the preferred form for modification) are in the package and in the upstream source.

| file | original | copyright | licence |
|---|---|---|---|
${rows.join('\n')}

\`spots/spots.json\` (names, descriptions, positions, popularity of an invented park) is part of
EnfPire edge and under Apache-2.0, like the rest of the project.
`;
}

await main();
