# Read by cpack (CPACK_PROJECT_CONFIG_FILE). The changelog written at install time
# (cmake/deb/changelog.cmake) names the version being packaged, including a Debian revision given
# on the command line: `cpack -G DEB -D CPACK_DEBIAN_PACKAGE_RELEASE=2`.
if(CPACK_DEBIAN_PACKAGE_VERSION)
  set(aisearchd_version ${CPACK_DEBIAN_PACKAGE_VERSION})
else()
  set(aisearchd_version ${CPACK_PACKAGE_VERSION})
endif()
if(CPACK_DEBIAN_PACKAGE_RELEASE)
  string(APPEND aisearchd_version "-${CPACK_DEBIAN_PACKAGE_RELEASE}")
endif()
list(APPEND CPACK_CUSTOM_INSTALL_VARIABLES "AISEARCHD_PACKAGE_VERSION=${aisearchd_version}")
