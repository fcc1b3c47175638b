// LD_PRELOAD shim: CPUID faults (arch_prctl ARCH_SET_CPUID 0) and the SIGSEGV handler answers
// it with feature bits cleared, so libraries that pick kernels by CPUID (oneDNN in OpenVINO,
// MLAS in ONNX Runtime) see a smaller CPU. CPUID_MASK=amx|avx512bf16|avx512vnni|avxvnni|avx2
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static int drop_amx, drop_bf16, drop_avx512, drop_avxvnni;

static void mask(unsigned leaf, unsigned sub, unsigned r[4]) {
    if (leaf == 7 && sub == 0) {
        if (drop_amx) r[3] &= ~((1u << 22) | (1u << 24) | (1u << 25));
        if (drop_bf16) r[3] &= ~(1u << 23);  // AVX512_FP16 goes with the bf16 generation
        if (drop_avx512) {
            r[1] &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 28) | (1u << 30) | (1u << 31));
            r[2] &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
            r[3] &= ~((1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25));
        }
    }
    if (leaf == 7 && sub == 1) {
        if (drop_bf16 || drop_avx512) r[0] &= ~(1u << 5);  // AVX512_BF16
        if (drop_avx512 && drop_amx) r[0] &= ~((1u << 21) | (1u << 22));  // AMX-FP16/complex
        if (drop_avxvnni) r[0] &= ~(1u << 4);              // AVX-VNNI
    }
    if (leaf == 0xd && sub == 0 && drop_amx) r[0] &= ~((1u << 17) | (1u << 18));  // XTILE state
}

static void handler(int sig, siginfo_t *si, void *vctx) {
    (void)sig; (void)si;
    ucontext_t *uc = vctx;
    greg_t *g = uc->uc_mcontext.gregs;
    unsigned char *ip = (unsigned char *)g[REG_RIP];
    if (ip[0] == 0x0f && ip[1] == 0xa2) {
        unsigned leaf = (unsigned)g[REG_RAX], sub = (unsigned)g[REG_RCX], r[4];
        syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
        __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
        syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
        mask(leaf, sub, r);
        g[REG_RAX] = r[0]; g[REG_RBX] = r[1]; g[REG_RCX] = r[2]; g[REG_RDX] = r[3];
        g[REG_RIP] += 2;
        return;
    }
    signal(SIGSEGV, SIG_DFL);  // a real crash: fault again with the default action
}

__attribute__((constructor)) static void init(void) {
    const char *m = getenv("CPUID_MASK");
    if (!m || !*m) return;
    drop_amx = 1;
    if (!strcmp(m, "amx")) drop_amx = 0;
    if (!strcmp(m, "avx512vnni") || !strcmp(m, "avxvnni") || !strcmp(m, "avx2")) drop_bf16 = 1;
    if (!strcmp(m, "avxvnni") || !strcmp(m, "avx2")) drop_avx512 = 1;
    if (!strcmp(m, "avx2")) drop_avxvnni = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
}
