package dev.postern.tproxy;

/** How the program is attached to an interface's ingress. */
public enum AttachMode {
    /** tcx if the kernel has it (6.6 and newer), else the clsact qdisc. The default. */
    AUTO,
    /** A tcx {@code bpf_link} only; fails on kernels without tcx. */
    TCX,
    /** A cls_bpf filter on the clsact qdisc (created if missing, and then removed by Postern when it detaches). */
    TC
}
