// Renders the settings table as Markdown; the README embeds its output between markers and a
// unit test keeps the two in step.
import { SETTINGS, type Setting } from './settings.js';

export function configTableMarkdown(): string {
  const rows = (Object.values(SETTINGS) as Setting[]).map(
    (s) => `| \`${s.env}\` | ${s.default === undefined ? '(unset)' : `\`${s.default}\``} | ${s.doc} |`,
  );
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
