/* glibc's struct mallinfo2 (malloc.h), declared here: bun:ffi's TinyCC compiles without system headers. */
struct mallinfo2_fields {
  unsigned long arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
extern struct mallinfo2_fields mallinfo2(void);

/* Bytes handed out by malloc and not freed yet, over every arena: small blocks plus mmapped ones. */
unsigned long malloc_in_use(void) {
  struct mallinfo2_fields info = mallinfo2();
  return info.uordblks + info.hblkhd;
}
