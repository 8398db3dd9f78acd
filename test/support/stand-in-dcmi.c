/* A stand-in for the Ascend driver's libdcmi.so: the functions the runtime wrapper and the destroy hook
 * call, with the names, signatures and struct layouts of upstream's dcmi_interface_api.h. No NPU behind it.
 *
 * What it answers comes from a control file, CONTROL (compiled in with -DCONTROL="..." so that neither
 * the wrapper's env nor the destroy hook's explicit env decides it), one `key=value` a line:
 *   chip=910B3            the chip name dcmi_get_device_chip_info gives (950: `Ascend950PR`, see v2)
 *   product=...           what dcmi_get_product_type gives (default empty)
 *   v2=1                  dcmi_init fails (-8255) and dcmiv2_init succeeds, as on Ascend 950
 *   cards=2               cards 0..N-1, one device each; logic id = phy id = card (default 2)
 *   vdev=N                the vdevId dcmi_create_vdevice returns (default 100 + 16 * phy)
 *   err_<function>=CODE   that function returns CODE (e.g. err_dcmi_create_vdevice=-8005)
 *   kill_after_create=1   after a successful create, the calling process kills itself (SIGKILL)
 * Every call is appended to RECORD (-DRECORD="...") as one line: the function name and its arguments;
 * a create also records the template and the vdevId it returned. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CONTROL
#error "build with -DCONTROL=\"/path/to/control\""
#endif
#ifndef RECORD
#error "build with -DRECORD=\"/path/to/record\""
#endif

struct DcmiCreateVdevOut {
  unsigned int vdevId;
  unsigned int pcieBus;
  unsigned int pcieDevice;
  unsigned int pcieFunc;
  unsigned int vfgId;
  unsigned char reserved[32];
};
struct DcmiCreateVdevResStru {
  unsigned int vdevId;
  unsigned int vfgId;
  char templateName[32];
  unsigned char reserved[64];
};
struct DcmiChipInfo {
  unsigned char chipType[32];
  unsigned char chipName[32];
  unsigned char chipVer[32];
  unsigned int aicoreCnt;
};

/* The value of `key` in the control file, copied to out (empty when absent). */
static const char *control(const char *key, char *out, size_t size) {
  out[0] = 0;
  FILE *f = fopen(CONTROL, "r");
  if (f == NULL) return out;
  char line[256];
  size_t n = strlen(key);
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, key, n) == 0 && line[n] == '=') {
      snprintf(out, size, "%s", line + n + 1);
      out[strcspn(out, "\n")] = 0;
      break;
    }
  }
  fclose(f);
  return out;
}

static long number(const char *key, long fallback) {
  char v[64];
  return control(key, v, sizeof v)[0] == 0 ? fallback : strtol(v, NULL, 0);
}

static int error_of(const char *function) {
  char key[96];
  snprintf(key, sizeof key, "err_%s", function);
  return (int)number(key, 0);
}

static void record(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *format, ...) {
  FILE *f = fopen(RECORD, "a");
  if (f == NULL) return;
  va_list ap;
  va_start(ap, format);
  vfprintf(f, format, ap);
  va_end(ap);
  fputc('\n', f);
  fclose(f);
}

static int cards(void) { return (int)number("cards", 2); }

int dcmi_init(void) {
  record("dcmi_init");
  if (number("v2", 0) != 0) return -8255;
  return error_of("dcmi_init");
}

int dcmiv2_init(void) {
  record("dcmiv2_init");
  if (number("v2", 0) == 0) return -8255;
  return error_of("dcmiv2_init");
}

int dcmi_get_card_num_list(int *cardNum, int *cardList, int listLength) {
  record("dcmi_get_card_num_list %d", listLength);
  int e = error_of("dcmi_get_card_num_list");
  if (e != 0) return e;
  int n = cards();
  *cardNum = n;
  for (int i = 0; i < n && i < listLength; i++) cardList[i] = i;
  return 0;
}

int dcmiv2_get_device_list(int *deviceList, int *deviceNum, int listLength) {
  record("dcmiv2_get_device_list %d", listLength);
  int n = cards();
  *deviceNum = n;
  for (int i = 0; i < n && i < listLength; i++) deviceList[i] = i;
  return error_of("dcmiv2_get_device_list");
}

int dcmi_get_device_num_in_card(int cardId, int *deviceNum) {
  record("dcmi_get_device_num_in_card %d", cardId);
  *deviceNum = 1;
  return error_of("dcmi_get_device_num_in_card");
}

int dcmi_get_device_logic_id(int *deviceLogicId, int cardId, int deviceId) {
  record("dcmi_get_device_logic_id %d %d", cardId, deviceId);
  *deviceLogicId = cardId;
  return error_of("dcmi_get_device_logic_id");
}

int dcmi_get_device_logicid_from_phyid(unsigned int phyid, unsigned int *logicid) {
  record("dcmi_get_device_logicid_from_phyid %u", phyid);
  *logicid = phyid;
  return error_of("dcmi_get_device_logicid_from_phyid");
}

int dcmi_create_vdevice(int cardId, int deviceId, struct DcmiCreateVdevResStru *vdev,
                        struct DcmiCreateVdevOut *out) {
  char name[33];
  memcpy(name, vdev->templateName, 32);
  name[32] = 0;
  int e = error_of("dcmi_create_vdevice");
  unsigned int id = (unsigned int)number("vdev", 100 + 16 * cardId);
  record("dcmi_create_vdevice %d %d %s in=0x%x,0x%x -> %d %u", cardId, deviceId, name, vdev->vdevId,
         vdev->vfgId, e, e == 0 ? id : 0);
  if (e != 0) return e;
  out->vdevId = id;
  out->vfgId = 0;
  if (number("kill_after_create", 0) != 0) kill(getpid(), SIGKILL);
  return 0;
}

int dcmi_set_destroy_vdevice(int cardId, int deviceId, unsigned int vDevid) {
  int e = error_of("dcmi_set_destroy_vdevice");
  record("dcmi_set_destroy_vdevice %d %d %u -> %d", cardId, deviceId, vDevid, e);
  return e;
}

int dcmi_get_product_type(int cardId, int deviceId, char *productTypeStr, int bufSize) {
  record("dcmi_get_product_type %d %d %d", cardId, deviceId, bufSize);
  char v[128];
  snprintf(productTypeStr, (size_t)bufSize, "%s", control("product", v, sizeof v));
  return error_of("dcmi_get_product_type");
}

static int chip_info(struct DcmiChipInfo *chipInfo, const char *function) {
  char v[64];
  memset(chipInfo, 0, sizeof *chipInfo);
  snprintf((char *)chipInfo->chipType, 32, "Ascend");
  snprintf((char *)chipInfo->chipName, 32, "%s", control("chip", v, sizeof v));
  snprintf((char *)chipInfo->chipVer, 32, "V1");
  chipInfo->aicoreCnt = 20;
  return error_of(function);
}

int dcmi_get_device_chip_info(int cardId, int deviceId, struct DcmiChipInfo *chipInfo) {
  record("dcmi_get_device_chip_info %d %d", cardId, deviceId);
  return chip_info(chipInfo, "dcmi_get_device_chip_info");
}

int dcmiv2_get_device_chip_info(int deviceId, struct DcmiChipInfo *chipInfo) {
  record("dcmiv2_get_device_chip_info %d", deviceId);
  return chip_info(chipInfo, "dcmiv2_get_device_chip_info");
}
