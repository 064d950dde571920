/**
 * Seeded randomness for the emulator. Every ID, password and fault decision comes from a `SeededRandom`,
 * so a run with the same seed, clock and request sequence produces the same answers.
 */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    // Mix the seed so small consecutive seeds still give unrelated streams.
    this.#state = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0) || 0x6d2b79f5;
  }

  /** A float in [0, 1) (mulberry32). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability `p` (0 or missing never, 1 always). */
  chance(p: number | undefined): boolean {
    if (p === undefined || p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  chars(alphabet: string, length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet.charAt(this.int(alphabet.length));
    return out;
  }
}

const ADJECTIVES = [
  'aged', 'autumn', 'billowing', 'bitter', 'black', 'blue', 'bold', 'broad', 'calm', 'cold', 'cool', 'crimson',
  'curly', 'damp', 'dark', 'dawn', 'delicate', 'divine', 'dry', 'empty', 'falling', 'fancy', 'flat', 'floral',
  'fragrant', 'frosty', 'gentle', 'green', 'hidden', 'holy', 'icy', 'jolly', 'late', 'lingering', 'little',
  'lively', 'long', 'lucky', 'misty', 'morning', 'muddy', 'mute', 'nameless', 'noisy', 'odd', 'old', 'orange',
  'patient', 'plain', 'polished', 'proud', 'purple', 'quiet', 'rapid', 'raspy', 'red', 'restless', 'rough',
  'round', 'royal', 'shiny', 'shrill', 'shy', 'silent', 'small', 'snowy', 'soft', 'solitary', 'sparkling',
  'spring', 'square', 'steep', 'still', 'summer', 'super', 'sweet', 'throbbing', 'tight', 'tiny', 'twilight',
  'wandering', 'weathered', 'white', 'wild', 'winter', 'wispy', 'withered', 'yellow', 'young',
];
const NOUNS = [
  'art', 'band', 'bar', 'base', 'bird', 'block', 'boat', 'bonus', 'bread', 'breeze', 'brook', 'bush', 'butterfly',
  'cake', 'cell', 'cherry', 'cloud', 'credit', 'darkness', 'dawn', 'dew', 'disk', 'dream', 'dust', 'feather',
  'field', 'fire', 'firefly', 'flower', 'fog', 'forest', 'frog', 'frost', 'glade', 'glitter', 'grass', 'hall',
  'hat', 'haze', 'heart', 'hill', 'king', 'lab', 'lake', 'leaf', 'limit', 'math', 'meadow', 'mode', 'moon',
  'morning', 'mountain', 'mouse', 'mud', 'night', 'paper', 'pine', 'poetry', 'pond', 'queen', 'rain', 'recipe',
  'resonance', 'rice', 'river', 'salad', 'scene', 'sea', 'shadow', 'shape', 'silence', 'sky', 'smoke', 'snow',
  'snowflake', 'sound', 'star', 'sun', 'sunset', 'surf', 'term', 'thunder', 'tooth', 'tree', 'truth', 'union',
  'unit', 'violet', 'voice', 'water', 'waterfall', 'wave', 'wildflower', 'wind', 'wood',
];

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Neon-looking identifiers; all match the spec's `^[a-z0-9-]{1,60}$`. */
export class NeonIds {
  readonly #rng: SeededRandom;

  constructor(rng: SeededRandom) {
    this.#rng = rng;
  }

  #words(): string {
    return `${this.#rng.pick(ADJECTIVES)}-${this.#rng.pick(NOUNS)}`;
  }

  /** e.g. `sparkling-hill-99143322` */
  project(): string {
    return `${this.#words()}-${String(10_000_000 + this.#rng.int(90_000_000))}`;
  }

  /** e.g. `br-green-mode-afe3fl9y` */
  branch(): string {
    return `br-${this.#words()}-${this.#rng.chars(LOWER_ALNUM, 8)}`;
  }

  /** e.g. `ep-round-unit-afbn7qv4` */
  endpoint(): string {
    return `ep-${this.#words()}-${this.#rng.chars(LOWER_ALNUM, 8)}`;
  }

  /** e.g. `npg_N67FDMtGvJke` */
  password(): string {
    return `npg_${this.#rng.chars(ALNUM, 12)}`;
  }

  /** A version-4 UUID built from the seeded stream. */
  uuid(): string {
    const hex = this.#rng.chars('0123456789abcdef', 32).split('');
    hex[12] = '4';
    hex[16] = '89ab'.charAt(this.#rng.int(4));
    const h = hex.join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  databaseId(): number {
    return 1_000_000 + this.#rng.int(9_000_000);
  }
}
