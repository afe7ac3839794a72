# The Debian packages, built with CPack (deploy/build-packages.sh): trellisd
# (the node) and trellis (the agent). CPack rather than a debian/ folder: the
# packages come from the same install rules as `cmake --install`, need no
# debhelper, and build out of tree into any folder with
# `cmake --build BUILD --target package`.
#
# With TRELLIS_PACKAGE on, the install lays out a system package: prefix
# /usr, the node's config in /etc/trellis (a conffile), /var/lib/trellis, and
# the systemd units in /lib/systemd/system (Debian 12's place for them).

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "TRELLIS_PACKAGE needs -DCMAKE_INSTALL_PREFIX=/usr (the packages' paths)")
endif()

set(TRELLIS_PACKAGE_MAINTAINER "Trellis maintainers <maintainers@trellis.example.org>"
  CACHE STRING "Maintainer field of the .deb packages")
set(pkg_src ${PROJECT_SOURCE_DIR}/deploy/package)
set(pkg_out ${PROJECT_BINARY_DIR}/package)

# Per package: /usr/share/doc/NAME/copyright and changelog.gz (a native
# package's), as Debian policy asks of every binary package.
foreach(comp trellisd agent)
  if(comp STREQUAL "agent")
    set(PKG_NAME trellis)
  else()
    set(PKG_NAME trellisd)
  endif()
  set(PKG_MAINTAINER "${TRELLIS_PACKAGE_MAINTAINER}")
  configure_file(${pkg_src}/changelog.in ${pkg_out}/${PKG_NAME}/changelog @ONLY)
  add_custom_command(OUTPUT ${pkg_out}/${PKG_NAME}/changelog.gz
    COMMAND gzip -9nc ${pkg_out}/${PKG_NAME}/changelog > ${pkg_out}/${PKG_NAME}/changelog.gz
    DEPENDS ${pkg_out}/${PKG_NAME}/changelog VERBATIM)
  add_custom_target(changelog_${PKG_NAME} ALL DEPENDS ${pkg_out}/${PKG_NAME}/changelog.gz)
  install(FILES ${pkg_src}/copyright ${pkg_out}/${PKG_NAME}/changelog.gz
    DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${PKG_NAME} COMPONENT ${comp})
  # Folders both packages share; postinst gives them to the trellis user.
  install(DIRECTORY DESTINATION /etc/trellis COMPONENT ${comp})
  install(DIRECTORY DESTINATION /var/lib/trellis COMPONENT ${comp})
endforeach()

install(FILES ${pkg_src}/trellisd.conf DESTINATION /etc/trellis COMPONENT trellisd)
file(WRITE ${pkg_out}/conffiles "/etc/trellis/trellisd.conf\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME trellis)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Trellis")
set(CPACK_PACKAGE_CONTACT "${TRELLIS_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TRELLIS_PACKAGE_MAINTAINER}")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL trellisd agent)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps works out the library dependencies; adduser is for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_TRELLISD_PACKAGE_NAME trellisd)
set(CPACK_DEBIAN_TRELLISD_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_TRELLISD_PACKAGE_RECOMMENDS "postgresql")
# The first line is the synopsis; CPack indents the rest.
set(CPACK_DEBIAN_TRELLISD_DESCRIPTION "federated sync server for charities (the Trellis node)
trellisd stores a charity's anonymised records in PostgreSQL, serves its
agents over mutual TLS and exchanges records with the other nodes of its
consortium. The package installs the node, its SQL migrations, a
configuration in /etc/trellis and a sandboxed systemd unit that hands the
node its key with LoadCredential.")
set(CPACK_DEBIAN_TRELLISD_PACKAGE_CONTROL_EXTRA
  "${pkg_src}/postinst;${pkg_src}/prerm;${pkg_src}/postrm;${pkg_out}/conffiles")

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME trellis)
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_AGENT_DESCRIPTION "anonymising agent and certificate tool of a Trellis consortium
The agent reads the exports of a charity's case management system, turns
them into anonymised, signed records and pushes them to the charity's
Trellis node; the same command runs the consortium's certificate authority
(trellis pki). The package installs the command and a hardened systemd
unit for the long-running agent.")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
  "${pkg_src}/postinst;${pkg_src}/prerm;${pkg_src}/postrm")

include(CPack)
