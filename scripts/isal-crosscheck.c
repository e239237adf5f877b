// Helper for scripts/isal-crosscheck.mjs: Intel ISA-L's own encode and CRC on data generated from
// a seed (xorshift32, the same generator as the .mjs side). Reads commands on stdin:
//   rs <cauchy|rs> <k> <m> <len> <seed>     prints the m parity shards, hex, one line
//   crc <len> <seed> <init>                 prints crc16_t10dif(init, data, len), hex
// Build: cc -O2 -o isal-crosscheck isal-crosscheck.c -lisal   (Debian: libisal-dev)
#include <isa-l.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fill(unsigned char *p, size_t n, uint32_t x) {
  if (x == 0) x = 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = x & 0xff;
  }
}

int main(void) {
  char cmd[16], kind[16];
  while (scanf("%15s", cmd) == 1) {
    if (strcmp(cmd, "rs") == 0) {
      int k, m, len;
      unsigned seed;
      if (scanf("%15s %d %d %d %u", kind, &k, &m, &len, &seed) != 5) return 2;
      unsigned char *a = malloc((size_t)(k + m) * k), *g = malloc((size_t)k * m * 32);
      unsigned char **data = malloc(sizeof(void *) * k), **par = malloc(sizeof(void *) * m);
      for (int i = 0; i < k; i++) { data[i] = malloc(len + 1); fill(data[i], len, seed * 7919u + i + 1); }
      for (int i = 0; i < m; i++) par[i] = malloc(len + 1);
      if (strcmp(kind, "cauchy") == 0) gf_gen_cauchy1_matrix(a, k + m, k);
      else gf_gen_rs_matrix(a, k + m, k);
      ec_init_tables(k, m, &a[k * k], g);
      ec_encode_data(len, k, m, g, data, par);
      for (int i = 0; i < m; i++) for (int j = 0; j < len; j++) printf("%02x", par[i][j]);
      printf("\n");
      for (int i = 0; i < k; i++) free(data[i]);
      for (int i = 0; i < m; i++) free(par[i]);
      free(a); free(g); free(data); free(par);
    } else if (strcmp(cmd, "crc") == 0) {
      int len;
      unsigned seed, init;
      if (scanf("%d %u %u", &len, &seed, &init) != 3) return 2;
      unsigned char *p = malloc(len + 1);
      fill(p, len, seed);
      printf("%04x\n", crc16_t10dif((uint16_t)init, p, len));
      free(p);
    } else {
      return 2;
    }
    fflush(stdout);
  }
  return 0;
}
