include $(sort $(wildcard $(BR2_EXTERNAL_BABYMONITOR_PATH)/package/*/*.mk))
