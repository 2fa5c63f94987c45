import type { ApiCertificate } from '../../api/api-types.ts';
import { sitePath } from '../dashboard-paths.ts';
import { html, type Html } from '../html.ts';
import type { PageContext } from '../page-context.ts';
import { renderPage } from '../parts/layout.ts';
import { certificateStateBadge } from '../parts/state-badge.ts';
import { timeElement } from '../parts/time-element.ts';

export interface CertificatesPageModel extends PageContext {
  certificates: ApiCertificate[];
}

/** The admin host's certificate is listed under the pseudo-site `admin`, which has no page. */
const ADMIN_SITE = 'admin';

function certificateRow(certificate: ApiCertificate, now: Date): Html {
  return html`<tr>
<td><ul class="plain-list">${certificate.names.map((name) => html`<li>${name}</li>`)}</ul></td>
<td><ul class="plain-list">${certificate.sites.map((site) => html`<li>${site === ADMIN_SITE ? html`<span>${site}</span>` : html`<a href="${sitePath(site)}">${site}</a>`}</li>`)}</ul></td>
<td>${certificateStateBadge(certificate.state)}</td>
<td>${certificate.issuer ?? html`<span class="none">—</span>`}</td>
<td>${timeElement(certificate.notBefore, now)}</td>
<td>${timeElement(certificate.notAfter, now)}</td>
<td>${timeElement(certificate.nextCheckAt, now)}</td>
<td>${certificate.lastError === null ? html`<span class="none">—</span>` : html`<code>${certificate.lastError.code}</code> ${certificate.lastError.message}`}</td>
</tr>`;
}

/** Every certificate Berth manages, with its state and when it is next looked at. */
export function renderCertificatesPage(model: CertificatesPageModel): string {
  return renderPage({
    context: model,
    title: 'Certificates',
    nav: 'certificates',
    main: model.certificates.length === 0 ? html`<p>No certificates yet.</p>` : html`<div class="table-scroll" role="region" aria-label="Certificates" tabindex="0"><table>
<thead><tr><th scope="col">Names</th><th scope="col">Sites</th><th scope="col">State</th><th scope="col">Issuer</th><th scope="col">Valid from</th><th scope="col">Valid until</th><th scope="col">Next check</th><th scope="col">Last error</th></tr></thead>
<tbody>
${model.certificates.map((certificate) => certificateRow(certificate, model.now))}
</tbody>
</table></div>`,
  });
}
