/**
 * The Gateway API conformance replay: the upstream suite's manifests, its generated certificates, and (issue 6)
 * the harness that runs its cases against a real Postern.
 *
 * <p>Starting points: {@link dev.postern.conformance.SuiteManifests},
 * {@link dev.postern.conformance.SuiteCertificates}.
 */
package dev.postern.conformance;
