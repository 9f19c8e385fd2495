/** The manifest beside every model file: `models/<name>.json` describes `models/<name>.onnx`. */
export interface ModelManifest {
  /** Model id sent on the wire and announced by the recognizer, e.g. "enfpire-gist-int8-v1". */
  id: string;
  /** ONNX file name, relative to the manifest's folder. */
  file: string;
  /** Hex sha256 of the ONNX file; checked at start-up. */
  sha256: string;
  input: {
    name: string;
    /** Full input shape including batch 1, e.g. [1, 3, 128, 128] for NCHW. */
    shape: number[];
    layout: 'NCHW' | 'NHWC';
    /** Per-channel RGB mean and std applied to pixel/255. */
    mean: [number, number, number];
    std: [number, number, number];
    /**
     * How a picture of another aspect ratio is brought to the input size: 'fill' stretches the whole
     * picture (the default: nothing the camera saw is lost), 'cover' scales and centre-crops.
     */
    resize?: 'fill' | 'cover';
  };
  output: {
    name: string;
    /** Feature dimension: number of elements of the output. */
    dimension: number;
    /**
     * Mean feature of a photo corpus, subtracted before L2 normalisation. Without it every photo shares a common
     * direction (unrelated photos sit at cosine ~0.5), which crowds the candidates of a mixed query and leaves the
     * mixed query close to the real feature; centring spreads unrelated photos towards cosine 0.
     */
    centre?: number[];
    /**
     * Least cosine between a frame's feature and a spot's reference for the device to name that spot, measured for
     * this model: each extractor spreads camera views and unrelated pictures differently (a learned model puts both
     * further from a reference than GIST does), so one number cannot serve every model. The profile's
     * resolver.threshold overrides it; absent from both, UNCALIBRATED_MATCH_THRESHOLD (docs/decisions.md #29).
     */
    threshold?: number;
    /**
     * The region gate's cosine for this model (regionGateCosine): a frame whose feature has less with every spot
     * of the region pack shows no spot and never leaves the device. privacy.minSpotCosine overrides it; absent from
     * both, the match threshold. Calibrated on frames of no spot (`enfpire eval`, report `no_spot.gate_curve`).
     */
    spotCosine?: number;
    /**
     * File (relative to the manifest) of the model's background views: features of pictures that are no spot, from
     * which the device sets its region gate per region pack (privacy.backgroundPass, docs/decisions.md #35). It
     * takes precedence over spotCosine; privacy.minSpotCosine overrides both.
     */
    background?: string;
  };
  /**
   * How far real camera views of a spot spread around its reference feature, measured for this model: decoys get
   * noise of this size so the server cannot tell a real photo feature from a synthetic one (docs/decisions.md #6).
   */
  viewVariation?: {
    sigma: number;
    source?: string;
    /** Largest spot view model a device accepts in a region pack (edge/region-pack-bounds.ts). */
    bounds?: ViewModelBounds;
  };
  /** Free text: where the card lives, licence. */
  card?: string;
  licence?: string;
}

/** Norm bounds on a spot view model (transport/messages.ts SpotViewModel), from the model's measured view spread. */
export interface ViewModelBounds {
  /** Largest norm of the mean deviation. */
  meanNorm: number;
  /** Largest standard deviation along a principal direction. */
  scale: number;
  /** Largest residual norm. */
  residual: number;
}

/** Turns an image into an L2-normalised feature vector. */
export interface Extractor {
  readonly modelId: string;
  readonly dimension: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Encoded image bytes or a raw frame → unit-length feature. */
  extract(image: Buffer | import('../camera/types.js').Frame): Promise<Float32Array>;
}
