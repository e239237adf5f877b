// A native helper of qingtian's: asks Linux to back host memory with 2 MiB transparent huge
// pages, as DPDK and SPDK put their memory on huge pages. V8 maps a WebAssembly.Memory itself
// and never calls madvise on it, and where the kernel's THP mode is "madvise" (the common
// default) the memory stays on 4 KiB pages: a lookup table of tens of MiB then costs a TLB miss
// per random access. Nothing else here touches the memory; Linux only, built at install by
// scripts/build-native.mjs, optional (qingtian runs without it, on 4 KiB pages).
//
// adviseHuge(sab) -> bytes advised (>= 0), or -errno. Only whole 2 MiB-aligned pages inside the
// buffer are advised, so no mapping outside it changes.
#include <node.h>
#include <sys/mman.h>
#include <cerrno>
#include <cstdint>

namespace {

constexpr uintptr_t kHuge = uintptr_t{2} << 20;

void AdviseHuge(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (args.Length() != 1 || !args[0]->IsSharedArrayBuffer()) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(isolate, "adviseHuge: expects one SharedArrayBuffer")));
    return;
  }
  std::shared_ptr<v8::BackingStore> store = args[0].As<v8::SharedArrayBuffer>()->GetBackingStore();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(store->Data());
  const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t last = (begin + store->ByteLength()) & ~(kHuge - 1);
  double result = 0;
  if (last > first) {
    result = madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE) == 0
                 ? static_cast<double>(last - first)
                 : -static_cast<double>(errno);
  }
  args.GetReturnValue().Set(result);
}

void Init(v8::Local<v8::Object> exports) {
  NODE_SET_METHOD(exports, "adviseHuge", AdviseHuge);
}

}  // namespace

NODE_MODULE(NODE_GYP_MODULE_NAME, Init)
