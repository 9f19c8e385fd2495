/**
 * `--set path=value` (daemon/config/overrides.ts): values are read as JSON where they parse, paths are checked against
 * the schema (variants included) with the nearest name offered, and the result lays over a profile section by section.
 */
import t from 'tap';
import { mergeSettings, parseSettingOverrides } from '../../daemon/config/overrides.js';
import { UserError } from '../../daemon/util/errors.js';

t.test('entries become one nested partial profile, values read as JSON where they parse', async (t) => {
  const settings = parseSettingOverrides('eval', 'edge', [
    'resolver.windowSize=1',
    'resolver.windowMaxAgeMs=1500',
    'privacy.transform.replySize=grow',
    'transport.region="north"',
  ]);
  t.same(settings, { resolver: { windowSize: 1, windowMaxAgeMs: 1500 }, privacy: { transform: { replySize: 'grow' } }, transport: { region: 'north' } });
});

t.test('a setting of a variant only (privacy.transform of kind noise) is accepted', async (t) => {
  t.same(parseSettingOverrides('eval', 'edge', ['privacy.transform.noise=0.3']), { privacy: { transform: { noise: 0.3 } } });
});

t.test('an unknown setting is refused with the nearest known name', async (t) => {
  t.throws(() => parseSettingOverrides('eval', 'edge', ['resolver.windowSise=1']), { name: UserError.name, message: /no setting 'windowSise'; did you mean 'windowSize'/ });
  t.throws(() => parseSettingOverrides('eval', 'edge', ['resolver']), /--set takes path=value/);
  t.throws(() => parseSettingOverrides('eval', 'edge', ['=1']), /--set takes path=value/);
});

t.test('an override replaces a value and keeps the rest of its section', async (t) => {
  const base = { privacy: { transform: { kind: 'kmix', k: 4 }, backgroundPass: 0.25 }, scheduler: { ratePerSecond: 1 } };
  const merged = mergeSettings(base, { privacy: { transform: { k: 2 } }, resolver: { windowSize: 1 } });
  t.same(merged, {
    privacy: { transform: { kind: 'kmix', k: 2 }, backgroundPass: 0.25 },
    scheduler: { ratePerSecond: 1 },
    resolver: { windowSize: 1 },
  });
  t.same(base.privacy.transform, { kind: 'kmix', k: 4 }, 'the base is not modified');
});
